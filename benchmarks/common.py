"""What every benchmark needs: the repository's folders, the machine and versions it ran on,
progress lines and errors, timestamps, Markdown tables, figures and the files it writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"  # what a benchmark reports, kept in git
RUNS = REPO / "runs"  # work directories (git-ignored)
SAMPLE = REPO / "data" / "tatoeba-en-de"  # the bundled sample corpus


# --- progress and errors ------------------------------------------------------------


def log(message: str) -> None:
    """A progress line on stderr (stdout stays for data)."""
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Stop with a one-line error."""
    raise SystemExit(f"error: {message}")


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """How the benchmark was invoked: ``python -m MODULE ARGS``, shell-quoted; the arguments
    are this process's unless given."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return utc_time(time.time())


def utc_time(seconds: float) -> str:
    """A POSIX time in UTC, ISO 8601 to the second."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


# --- the machine --------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else the machine type."""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def machine_description() -> str:
    """``CPU model, N cores``."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to two decimals."""
    return [round(x, 2) for x in os.getloadavg()]


def versions(*packages: str) -> dict[str, str]:
    """Installed version of each distribution, e.g. ``versions("torch", "ve-fairseq")``."""
    return {name: metadata.version(name) for name in packages}


def process_memory_kib(pid: int | str = "self") -> dict[str, int]:
    """A process's resident (``VmRSS``) and peak resident (``VmHWM``) memory in KiB, from
    Linux's /proc; the keys a process no longer has (after it exited) are absent. OSError
    where the process is gone."""
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(rest.split()[0])
    return memory


def ea_mt_command() -> list[str]:
    """The ``ea-mt`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "ea-mt"
    found = str(script) if script.is_file() else shutil.which("ea-mt")
    if found is None:
        fail("ea-mt is not installed here; run 'make install' and use .venv/bin/python")
    return [found]


# --- outputs ------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]],
                   right_from: int | None = None) -> str:
    """A Markdown table, without a final newline; columns from index ``right_from`` on are
    right-aligned."""
    rule = ["---:" if right_from is not None and i >= right_from else "---"
            for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "".join(f"{r}|" for r in rule)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def dated_folder(kind: str) -> Path:
    """``benchmarks/results/KIND-DATE/`` (``-2``, ``-3``… after it), never an existing one."""
    stem = RESULTS / f"{kind}-{dt.date.today().isoformat()}"
    out, number = stem, 1
    while out.exists():
        number += 1
        out = stem.with_name(f"{stem.name}-{number}")
    return out


def write_json(path: Path, data: Any, indent: int = 2) -> None:
    """``data`` as indented JSON (values JSON cannot hold as their ``str``), then a newline."""
    path.write_text(json.dumps(data, indent=indent, default=str) + "\n", encoding="utf-8")


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the file-only Agg backend, imported when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: Path, dpi: int) -> None:
    """Lay out a matplotlib figure, write it to ``path`` and close it."""
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
