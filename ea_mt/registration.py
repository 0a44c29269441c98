"""ea_mt's registrations with fairseq and torch, made when those are imported.

Two things must hold for whoever uses fairseq or torch after ``import ea_mt``: fairseq
knows the ``ea_transformer`` model and its architectures, and ``torch.load`` accepts the
types fairseq checkpoints hold (:mod:`ea_mt.checkpoint_safety`).  Importing torch and
fairseq for that would cost seconds in every command, also in those that load no model
(``ea-mt --help``, ``ea-mt score``).  So :func:`install` makes each registration at once
if its package is already imported (fairseq's ``--user-dir`` imports ea_mt after
fairseq), and otherwise right after that package's own import has finished, through a
finder on ``sys.meta_path`` that wraps the package's loader.

Each registration is the import of a module that makes it at its end
(:mod:`ea_mt.checkpoint_safety`, :mod:`ea_mt.models.ea_transformer`), and the first import
of torch or fairseq may come from one of ea_mt's own modules, half-run at that moment.
For checkpoint_safety that is harmless: importing it again changes nothing and its own
end still comes.  The model's modules import each other, so registering while one of them
is half-run (``from ea_mt.models.attention import ...`` imports fairseq) would import it
half-defined; the finder therefore also follows the imports of ``ea_mt.models`` modules,
and registration waits until the last of them has finished.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importlib.abc alone takes longer to import than the rest of ea_mt
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

MODELS = "ea_mt.models"
REGISTERING_MODULE = "ea_mt.models.ea_transformer"  # registers the model when imported
ALLOW_LISTING_MODULE = "ea_mt.checkpoint_safety"  # allow-lists the types when imported


def install() -> None:
    """Register with torch and fairseq now if imported, else as soon as they are."""
    _HOOKS.after_import("torch", allow_checkpoint_types)
    _HOOKS.after_import("fairseq", register_models, around=quiet_root_logger)


def allow_checkpoint_types() -> None:
    """Allow-list the types of fairseq checkpoints for ``torch.load(weights_only=True)``.

    Importing :mod:`ea_mt.checkpoint_safety` does it, at the end of the module: when the
    module itself is what imported torch, importing it here changes nothing and its own
    end still comes.
    """
    importlib.import_module(ALLOW_LISTING_MODULE)


def register_models() -> None:
    """Register the ``ea_transformer`` model and its architectures with fairseq, or, while
    a module of the model is being imported, once the last of them has finished."""
    if _HOOKS.models_running:
        _HOOKS.registration_pending = True
        return
    _HOOKS.registration_pending = False
    importlib.import_module(REGISTERING_MODULE)


@contextmanager
def quiet_root_logger() -> Iterator[None]:
    """Keep fairseq's imports from configuring the application's logging.

    Some fairseq modules call ``logging.basicConfig`` (one at DEBUG level) when imported;
    while the root logger has a handler those calls do nothing, so a placeholder one is
    added for the duration.
    """
    guard = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)


Step = Callable[[], None]
Around = Callable[[], AbstractContextManager[Any]]


class _ImportHooks:
    """Finds modules as the other finders do; for the top-level packages given to
    :meth:`after_import` and for the modules of ``ea_mt.models`` it wraps the loader.

    It is on ``sys.meta_path`` only while a step or a registration is waiting.
    """

    def __init__(self) -> None:
        self.steps: dict[str, tuple[Step, Around]] = {}
        self.models_running = 0  # ea_mt.models modules whose code is running now
        self.registration_pending = False

    def after_import(self, name: str, step: Step, around: Around = nullcontext) -> None:
        """Run ``step`` once the top-level package ``name`` is imported (now, if it is);
        ``around`` is entered for the package's own import and ``step`` together."""
        if name in sys.modules:
            with around():
                step()
            return
        self.steps[name] = (step, around)
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self.steps and not fullname.startswith(MODELS + "."):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _HookedLoader(spec.loader, self)
                return spec
        return None

    def run(self, module: ModuleType, loader: Loader) -> None:
        """Run a module's code with its hooks."""
        name = module.__name__
        if name in self.steps:
            step, around = self.steps[name]
            with around():
                loader.exec_module(module)
                del self.steps[name]
                step()
        else:
            self.models_running += 1
            try:
                loader.exec_module(module)
            finally:
                self.models_running -= 1
            if self.registration_pending:
                register_models()
        if not self.steps and not self.registration_pending and self in sys.meta_path:
            sys.meta_path.remove(self)


class _HookedLoader:
    """A module's own loader, whose ``exec_module`` runs under :class:`_ImportHooks`."""

    def __init__(self, loader: Loader, hooks: _ImportHooks) -> None:
        self.loader, self.hooks = loader, hooks

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.hooks.run(module, self.loader)

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, ...
        if name in ("loader", "hooks"):  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.loader, name)


_HOOKS = _ImportHooks()
