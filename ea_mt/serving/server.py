"""Loading the models to serve and running the application on uvicorn.

uvicorn handles SIGTERM and SIGINT gracefully: it closes the listening socket, so no new
request is taken, waits for the requests in flight to be answered, then ends the
application's lifespan (which stops the batcher).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ea_mt.bundled import bundled_hint, bundled_model
from ea_mt.decoding.options import DecodeOptions
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION
from ea_mt.errors import UserError
from ea_mt.modeldir import resolve_model
from ea_mt.serving.service import ModelSet, TranslationService
from ea_mt.serving.settings import DEFAULT_HOST, DEFAULT_MODEL_NAME, DEFAULT_PORT, ServeSettings
from ea_mt.workdir import DEFAULT_WORKDIR

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_model_specs(specs: Sequence[str]) -> list[tuple[str, Path]]:
    """``NAME=PATH`` pairs of ``--model``, checked: names well-formed and distinct; a bare
    bundled model's name stands for itself (``--model tatoeba-en-de-ea``)."""
    pairs: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep and bundled_model(spec) is not None:
            name, path = spec, spec
        elif not sep or not path:
            raise UserError(f"--model {spec!r}: write NAME=PATH (a checkpoint or model "
                            f"directory){bundled_hint()}")
        if not _NAME.fullmatch(name):
            raise UserError(f"--model {spec!r}: a name is letters, digits, '.', '_' and '-'")
        if name in (n for n, _ in pairs):
            raise UserError(f"--model {name}: the name is given twice")
        if not Path(path).exists() and bundled_model(path) is None:
            raise UserError(f"--model {spec}: no such file or directory, nor a bundled model")
        pairs.append((name, Path(path)))
    return pairs


def load_models(
    workdir: Path | None,
    checkpoint: Path | None,
    specs: Sequence[str],
    settings: ServeSettings,
    device: str = DEFAULT_DEVICE,
    precision: str = DEFAULT_PRECISION,
    decoder: str = DecodeOptions.decoder,
) -> ModelSet:
    """The models to serve: ``default`` from ``workdir``/``checkpoint`` (when given, or when
    no ``--model`` is), then each ``NAME=PATH`` of ``specs``; the first one is the default."""
    from ea_mt.decoding.translation import Translator

    settings.check()
    named = parse_model_specs(specs)
    sources = []
    if workdir is not None or checkpoint is not None or not named:
        if DEFAULT_MODEL_NAME in (name for name, _ in named):
            raise UserError(f"--model {DEFAULT_MODEL_NAME}=...: that name is the model of "
                            "--workdir/--checkpoint; choose another")
        sources.append((DEFAULT_MODEL_NAME,
                        resolve_model(workdir or DEFAULT_WORKDIR, checkpoint)))
    sources += [(name, resolve_model(DEFAULT_WORKDIR, path)) for name, path in named]
    options = DecodeOptions(batch_size=settings.max_batch_size,  # a batch is one model call
                            decoder=decoder)
    return ModelSet({name: Translator(files, options, device, precision)
                     for name, files in sources})


def run_server(
    service: TranslationService,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; logs go to stderr."""
    import uvicorn

    from ea_mt.serving.app import create_app

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s: %(message)s")
    if not api_key and host not in LOOPBACK:
        logging.getLogger("ea_mt.serving").warning(
            "serving on %s without --api-key: whoever reaches this port can use it", host)
    config = uvicorn.Config(create_app(service, api_key), host=host, port=port,
                            log_level="info", timeout_graceful_shutdown=None)
    server = uvicorn.Server(config)
    server.run()  # a port already taken: uvicorn logs why and exits 1
    if not server.started:
        raise UserError(f"the server did not start on {host}:{port}; see the log above")
