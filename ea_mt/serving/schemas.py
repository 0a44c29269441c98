"""The JSON bodies of the HTTP API, as pydantic models (they also make its OpenAPI description).

Requests are strict: a number is not a string, ``true`` is not ``1``, and a field the API does
not know is an error rather than silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TranslateRequest(_Request):
    """One sentence (``text``) or several (``texts``), with optional decoding choices."""

    text: str | None = Field(None, description="One sentence (one line of raw text).")
    texts: list[str] | None = Field(
        None, min_length=1, description="Several sentences, each translated on its own."
    )
    model: str | None = Field(None, description="A name from GET /models (default: the first).")
    beam: int | None = Field(None, description="Beam size, 1 to the server's max_beam.")
    nbest: int = Field(1, description="Hypotheses per sentence, 1 to beam.")
    alignment: bool = Field(False, description="Add word alignments (source-target pairs).")
    alignment_layer: int | None = Field(
        None, description="Decoder layer (from 0) to align with; default: the last."
    )

    @model_validator(mode="after")
    def _one_of_text_and_texts(self) -> TranslateRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('send either "text" (a string) or "texts" (a list of strings)')
        return self

    @property
    def sentences(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or ())


class InspectRequest(_Request):
    """One sentence whose attention maps to capture."""

    text: str = Field(description="The source sentence.")
    target: str | None = Field(
        None, description="A translation to teacher-force on (default: the model's own)."
    )
    model: str | None = Field(None, description="A name from GET /models (default: the first).")
    beam: int | None = Field(None, description="Beam size of the model's own translation.")


class HypothesisOut(BaseModel):
    text: str
    score: float = Field(description="fairseq's length-normalised log-probability.")
    alignment: str | None = Field(None, description='Word alignment "0-0 1-2 ...", if asked.')


class TranslationOut(BaseModel):
    text: str = Field(description='The best translation ("" for a blank sentence).')
    score: float | None = Field(description="Its score (null for a blank sentence).")
    alignment: str | None = None
    hypotheses: list[HypothesisOut] = Field(description="The n-best list, best first.")
    truncated: bool = Field(description="The source was longer than the model takes and cut.")
    stopped_at_max_len: bool = Field(description="The translation was cut at the length limit.")


class Timing(BaseModel):
    total_ms: float = Field(description="From the request read to the answer built.")
    queued_ms: float = Field(description="Waiting for a batch to start.")
    model_ms: float = Field(description="The batches this request's sentences were in.")
    batches: int


class TranslateResponse(BaseModel):
    model: str
    beam: int
    nbest: int
    translations: list[TranslationOut] = Field(description="One per sentence, in order.")
    warnings: list[str] = Field(description="Truncated sources, cut or empty translations.")
    timing: Timing


class ModelInfo(BaseModel):
    name: str
    default: bool
    arch: str
    src: str
    tgt: str
    checkpoint: str = Field(description="The checkpoint's file name.")
    encoder_layers: int
    decoder_layers: int
    heads: list[int] = Field(description="The numbers of heads of its attention modules.")
    max_source_pieces: int


class ModelsResponse(BaseModel):
    default: str
    models: list[ModelInfo]
    defaults: dict[str, int] = Field(description="beam and nbest when a request names none.")
    limits: dict[str, int | float] = Field(description="The server's limits per request and batch.")


class HealthResponse(BaseModel):
    status: str
    requests_in_flight: int
    queued_sentences: int
    running_batch: bool
    batches: int
    sentences: int
    abandoned_requests: int = Field(description="Requests whose client left before the answer.")


class ErrorResponse(BaseModel):
    error: str = Field(description="What is wrong with the request, in one line.")
