"""Decoding on the CPU keeps freed memory for reuse (ea_mt/decoding/allocator.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import BUNDLED_SAMPLE

from ea_mt.decoding import translation
from ea_mt.decoding.allocator import retain_freed_memory
from ea_mt.devices import thread_env

# Translates 320 lines of the bundled sample with the bundled EA model (beam 5, batch 64)
# after a warm-up batch and prints the minor page faults that took; with an argument, the
# Translator is kept from retaining freed memory.
TRANSLATE = """
import resource, sys
from ea_mt.decoding import translation
if len(sys.argv) > 2:
    translation.retain_freed_memory = lambda: False
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()[:320]
translator = translation.Translator.load("tatoeba-en-de-ea", device="cpu", batch_size=64)
translator.translate(lines[:64])
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
translator.translate(lines)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(*args: str) -> int:
    source = str(BUNDLED_SAMPLE / "test.en")
    done = subprocess.run([sys.executable, "-c", TRANSLATE, source, *args], capture_output=True,
                          text=True, check=True, env={**os.environ, **thread_env(1)})
    return int(done.stdout)


@pytest.mark.skipif(not retain_freed_memory(), reason="not glibc: the allocator is left as it is")
def test_freed_logits_are_reused_instead_of_paged_in_again() -> None:
    retained, default = faults(), faults("glibc's default")
    # glibc's default unmaps or trims the freed blocks and faults them in again step after
    # step; retained, they are reused.
    assert retained * 3 < default, (retained, default)


def test_a_translator_on_the_cpu_retains_freed_memory(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(translation, "retain_freed_memory", lambda: calls.append(1))
    translation.Translator.load("tatoeba-en-de-ea", device="cpu")
    assert calls == [1]
