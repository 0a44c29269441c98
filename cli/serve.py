"""The ``ea-mt serve`` command: an HTTP translation service with dynamic batching."""

from __future__ import annotations

from typing import Annotated

import typer

from ea_mt.cli.app import app
from ea_mt.cli.options import (
    CheckpointOption,
    DecoderOption,
    DeviceOption,
    PrecisionOption,
    ThreadsOption,
    WorkdirOption,
    given_here,
)
from ea_mt.decoding.options import DecodeOptions
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION, check_threads
from ea_mt.errors import UserError
from ea_mt.serving.settings import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, ServeSettings
from ea_mt.workdir import DEFAULT_WORKDIR

HELP = (
    "Serve a model over HTTP: translation with dynamic batching, and attention maps.\n\n"
    "Endpoints: POST /translate ({\"text\": \"...\"} or {\"texts\": [...]}, optional model, "
    "beam, nbest, alignment), GET /models, GET /health, POST /inspect (the M / A / softmax "
    "maps and statistics of one sentence), /openapi.json, and the page / to translate and "
    "watch the attention evolve in the browser. Concurrent requests are gathered into "
    "batches of at most --max-batch-size sentences, the first waiting at most --max-wait-ms "
    "for others; each batch runs off the event loop, so /health answers meanwhile. Bad "
    "requests get a 4xx JSON {\"error\": ...}. SIGTERM or Ctrl-C stops taking requests and "
    "finishes the ones in flight.\n\n"
    "Binds to 127.0.0.1 (this machine only) unless --host says otherwise. With --api-key "
    f"(or ${API_KEY_ENV}) every endpoint but /health and the page's files needs "
    "'Authorization: Bearer KEY'."
)
EXAMPLES = (
    "Examples:\n\n"
    "ea-mt serve --model tatoeba-en-de-ea   (a bundled model, by its name)\n\n"
    "ea-mt serve -w runs/ende\n\n"
    "ea-mt serve --model ea=runs/ea/checkpoints --model vanilla=runs/base/checkpoints\n\n"
    "curl -s localhost:8080/translate -d '{\"text\": \"Two dogs play in the snow.\"}'"
)


@app.command("serve", help=HELP, epilog=EXAMPLES)
def serve_command(
    ctx: typer.Context,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    checkpoint: CheckpointOption = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", metavar="NAME=PATH",
                     help="Also serve NAME=PATH (checkpoint, model directory or bundled "
                     "model), or a bundled model by its name alone ('ea-mt models'); "
                     "repeatable. Without -w/--checkpoint the first is the default."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = DEFAULT_PORT,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", help="Sentences translated at once.")
    ] = ServeSettings.max_batch_size,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", help="How long a batch waits to fill up.")
    ] = ServeSettings.max_wait_ms,
    max_sentences: Annotated[
        int, typer.Option("--max-sentences", help="Texts in one request.")
    ] = ServeSettings.max_sentences,
    max_chars: Annotated[
        int, typer.Option("--max-chars", help="Characters in one request, all texts together.")
    ] = ServeSettings.max_chars,
    max_beam: Annotated[
        int, typer.Option("--max-beam", help="The largest beam a request may ask for.")
    ] = ServeSettings.max_beam,
    max_inspect_pieces: Annotated[
        int, typer.Option("--max-inspect-pieces", help="Source or target pieces /inspect takes.")
    ] = ServeSettings.max_inspect_pieces,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar=API_KEY_ENV, show_envvar=True,
                     help="Require 'Authorization: Bearer API_KEY' (the environment variable "
                     "keeps the key out of the process list)."),
    ] = None,
    decoder: DecoderOption = DecodeOptions.decoder,
    device: DeviceOption = DEFAULT_DEVICE,
    precision: PrecisionOption = DEFAULT_PRECISION,
    threads: ThreadsOption = None,
) -> None:
    from ea_mt.serving.server import load_models, run_server
    from ea_mt.serving.service import TranslationService, model_thread

    settings = ServeSettings(max_batch_size, max_wait_ms, max_sentences, max_chars, max_beam,
                             max_inspect_pieces)
    settings.check()
    if api_key is not None and not api_key.strip():
        raise UserError(f"--api-key (or ${API_KEY_ENV}) is empty; give a key or leave it unset")
    check_threads(threads)
    given = given_here(ctx, "workdir")  # -w or --workdir was written
    executor = model_thread(threads)  # loads and runs every model (see ea_mt.serving.service)
    models = executor.submit(load_models, workdir if given else None, checkpoint, model or [],
                             settings, device, precision, decoder).result()
    try:
        run_server(TranslationService(models, settings, executor), host, port, api_key)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it has shut down on
        raise typer.Exit(130) from None

