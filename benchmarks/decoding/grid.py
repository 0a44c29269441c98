"""The run: load the systems, time them on every beam, batch and thread count, measure
their memory, score them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import fail, load_average, log, utc_now
from benchmarks.decoding import ct2_runner
from benchmarks.decoding.inputs import Corpus, batch_indices, read_corpus
from benchmarks.decoding.memory import measure_memory
from benchmarks.decoding.options import Settings
from benchmarks.decoding.scores import bleu, identical_share, ratios
from benchmarks.decoding.systems import BASELINE, SYSTEMS, Runner, System
from benchmarks.decoding.timing import measure, summarise
from benchmarks.decoding.torch_runner import TorchRunner, fast_path_reason, load_translator
from ea_mt.decoding.translation import Translator

PRECISIONS = ("fp32", "int8")


@dataclass
class Loaded:
    """The two models at each precision, the converted CTranslate2 model, and why any
    system cannot run."""

    paths: dict[str, Path]
    translators: dict[tuple[str, str], Translator] = field(default_factory=dict)
    ct2_model: Path | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # system key -> why not

    def fp32(self, model: str) -> Translator:
        return self.translators[model, "fp32"]

    def available(self) -> list[System]:
        return [s for s in SYSTEMS if s.key not in self.reasons]


def load(settings: Settings) -> Loaded:
    """Load both models in fp32 and int8 and convert the vanilla one for CTranslate2."""
    loaded = Loaded(paths={"ea": settings.ea, "vanilla": settings.vanilla})
    for model, path in loaded.paths.items():
        for precision in PRECISIONS:
            translator = load_translator(path, precision)
            if isinstance(translator, str):
                if precision == "fp32":
                    fail(f"--{model} {path}: {translator}")
                reason = f"Translator.load(precision={precision!r}): {translator}"
                log(f"ea-mt fast, {model}, {precision}: not available: {reason}")
                loaded.reasons[System("fast", model, precision).key] = reason
                continue
            loaded.translators[model, precision] = translator
            reason = fast_path_reason(translator)
            if reason is not None:
                loaded.reasons[System("fast", model, precision).key] = reason
    ea, vanilla = loaded.fp32("ea").files, loaded.fp32("vanilla").files
    if (ea.src, ea.tgt) != (vanilla.src, vanilla.tgt):
        fail(f"--ea translates {ea.src}->{ea.tgt}, --vanilla {vanilla.src}->{vanilla.tgt}")
    reason = ct2_runner.missing_reason()
    if reason is None:
        loaded.ct2_model = ct2_runner.converted_model(vanilla, settings.ct2_cache)
    for system in SYSTEMS:
        if system.decoder == "ct2" and reason is not None:
            loaded.reasons[system.key] = reason
    return loaded


def runner(loaded: Loaded, system: System, beam: int, threads: int) -> Runner:
    """``system`` set up for ``beam`` and ``threads`` (torch's threads are set globally)."""
    if system.decoder == "ct2":
        vanilla = loaded.fp32("vanilla")
        return ct2_runner.CT2Runner(loaded.ct2_model, system.precision, beam, threads,
                                    vanilla.max_source_pieces,
                                    vanilla.model.max_decoder_positions())
    return TorchRunner(loaded.translators[system.model, system.precision], system.decoder, beam)


def memory_spec(loaded: Loaded, system: System, beam: int, threads: int,
                batches: list[list[list[str]]]) -> dict[str, Any]:
    """What a memory worker needs to rebuild ``system`` and decode ``batches``."""
    vanilla = loaded.fp32("vanilla")
    return {
        "system": {"decoder": system.decoder, "model": system.model,
                   "precision": system.precision},
        "model_path": str(loaded.paths[system.model]),
        "ct2_model": str(loaded.ct2_model) if loaded.ct2_model else None,
        "beam": beam, "threads": threads, "batches": batches,
        "max_source_pieces": vanilla.max_source_pieces,
        "max_decoder_positions": vanilla.model.max_decoder_positions(),
    }


def in_corpus_order(outputs: list[list[str]], groups: list[list[int]]) -> list[list[str]]:
    """Outputs in batch order, put back in the order of the source lines."""
    order = [i for group in groups for i in group]
    ordered: list[list[str]] = [[] for _ in order]
    for position, index in enumerate(order):
        ordered[index] = outputs[position]
    return ordered


def time_config(loaded: Loaded, corpus: Corpus, pieces: dict[str, list[list[str]]],
                beam: int, batch: int, threads: int, rounds: int) -> dict[str, Any]:
    """One beam, batch size and thread count: every available system's figures."""
    groups = batch_indices([len(p) for p in pieces["ea"]], batch)
    systems = loaded.available()
    runners = {s.key: runner(loaded, s, beam, threads) for s in systems}
    prepared = {s.key: [runners[s.key].prepare([pieces[s.model][i] for i in group])
                        for group in groups] for s in systems}
    timings = measure(runners, prepared, [len(g) for g in groups], rounds)
    outputs = {key: in_corpus_order(t.outputs, groups) for key, t in timings.items()}
    figures: dict[str, dict[str, Any]] = {}
    for system in SYSTEMS:
        if system.key in loaded.reasons:
            figures[system.key] = {"available": False, "reason": loaded.reasons[system.key]}
            continue
        entry: dict[str, Any] = {"available": True, **summarise(timings[system.key], rounds)}
        sp = loaded.fp32(system.model).sp
        if corpus.references is not None:
            texts = [sp.decode_pieces(p) for p in outputs[system.key]]
            entry["bleu"] = bleu(texts, corpus.references)
        if system.reference is not None:
            entry["identical_to"] = system.reference
            entry["identical"] = identical_share(outputs[system.key], outputs[system.reference])
        figures[system.key] = entry
    return {"beam": beam, "batch": batch, "threads": threads, "systems": figures}


def add_memory(run: dict[str, Any], memory: dict[str, dict[str, Any]], threads: int) -> None:
    """Put each system's memory figures into a run of the same beam and batch, with the
    ratios to the baseline system."""
    for key, figures in run["systems"].items():
        if figures["available"]:
            figures["memory"] = memory[key] | {"threads": threads}
            figures["peak_mb"] = memory[key]["peak_mb"]
    baseline = run["systems"][BASELINE]
    for figures in run["systems"].values():
        if figures["available"]:
            figures["vs_baseline"] = ratios(figures, baseline if baseline["available"] else None)


def run_grid(settings: Settings, results: dict[str, Any], save: Any) -> None:
    """Fill ``results`` with the runs (``save(results)`` after each step)."""
    loaded = load(settings)
    corpus = read_corpus(settings.source, settings.reference, loaded.fp32("ea").files.tgt,
                         settings.limit)
    pieces = {model: loaded.fp32(model).sp.encode(corpus.sources, out_type=str)
              for model in loaded.paths}
    results["systems"] = [{"key": s.key, "label": s.label, "decoder": s.decoder,
                           "model": s.model, "precision": s.precision,
                           "available": s.key not in loaded.reasons,
                           "reason": loaded.reasons.get(s.key)} for s in SYSTEMS]
    results["models"] = {model: loaded.fp32(model).describe() for model in loaded.paths}
    results["corpus"] = {"source": str(settings.source), "lines": len(corpus.sources),
                         "reference": str(corpus.reference_path) if corpus.reference_path
                         else None}
    results["ct2_model"] = str(loaded.ct2_model) if loaded.ct2_model else None
    results["load_before"] = load_average()
    for threads in settings.threads:
        torch.set_num_threads(threads)
        for beam in settings.beams:
            for batch in settings.batches:
                log(f"timing: beam {beam}, batch {batch}, {threads} thread(s), "
                    f"{len(loaded.available())} systems, {settings.rounds} round(s)")
                results["runs"].append(time_config(loaded, corpus, pieces, beam, batch,
                                                   threads, settings.rounds))
                save(results)
    results["load_after_timing"] = load_average()
    memory_threads = settings.threads[0]
    with tempfile.TemporaryDirectory(prefix="decoding-memory-") as work:
        for beam in settings.beams:
            for batch in settings.batches:
                groups = batch_indices([len(p) for p in pieces["ea"]], batch)
                memory = {}
                for system in loaded.available():
                    log(f"memory: {system.label}, beam {beam}, batch {batch}")
                    batches = [[pieces[system.model][i] for i in g] for g in groups]
                    spec = memory_spec(loaded, system, beam, memory_threads, batches)
                    memory[system.key] = measure_memory(spec, Path(work))
                for run in results["runs"]:
                    if (run["beam"], run["batch"]) == (beam, batch):
                        add_memory(run, memory, memory_threads)
                save(results)
    results["finished"] = utc_now()
