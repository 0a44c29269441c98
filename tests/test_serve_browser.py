"""The page of ``ea-mt serve`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright without its own browser download): translate two sentences, open the attention
view, and check the translations equal the API's and every map is drawn.

Without Chromium or Playwright the test skips with the reason; under CI (``CI=true``) it
fails instead, so CI always runs it.  Its screenshot goes to the test's tmp folder; the
README's ``docs/serve-page.png`` is the same walk through the page on a trained model::

    ea-mt serve --checkpoint MODEL --port 8080 &
    cd tests && python -c 'from pathlib import Path; from test_serve_browser import *;
    exercise_page("http://127.0.0.1:8080/", ["Two dogs play in the snow.", "A man in a red
    shirt is riding a bicycle down the street."], Path("../docs/serve-page.png"), "cross")'
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ea_mt.decoding.options import DecodeOptions
from ea_mt.decoding.translation import Translator
from ea_mt.modeldir import resolve_model
from ea_mt.serving.app import create_app
from ea_mt.serving.service import ModelSet, TranslationService
from ea_mt.serving.settings import ServeSettings

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGE_TIMEOUT_MS = 120_000  # a translation or inspection on a loaded CPU
SENTENCES = ["Tom is my friend.", "I like tea."]
BLANK = (236, 239, 242)  # the page's colour of cells without a value


def require_browser() -> None:
    """Skip (fail under CI) unless Playwright and Debian's Chromium are installed."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed (pip install playwright)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(service: TranslationService) -> Iterator[str]:
    """The app on uvicorn in a thread, on 127.0.0.1 and a free port; stopped at the end."""
    import uvicorn

    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=free_port(),
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(60)


# Per canvas: its layer, its column, and whether any cell of its map box is painted.
_CANVASES = """(blank) => [...document.querySelectorAll('#maps canvas.panel')].map((c) => {
  const [left, top, width, height] = c.dataset.plot.split(' ').map(Number);
  const scale = c.width / parseFloat(c.style.width);
  const pixels = c.getContext('2d').getImageData(Math.round(left * scale), Math.round(top * scale),
    Math.max(1, Math.floor(width * scale)), Math.max(1, Math.floor(height * scale))).data;
  let painted = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const same = pixels[i] === blank[0] && pixels[i + 1] === blank[1] && pixels[i + 2] === blank[2];
    if (!same) painted++;
  }
  return {layer: Number(c.dataset.layer), map: c.dataset.map, painted};
})"""


def exercise_page(url: str, sentences: list[str], screenshot: Path,
                  final_chain: str = "encoder_self") -> dict[str, Any]:
    """Translate ``sentences`` on the page, open the first one's attention view, go through
    every chain and the first head; what the page showed, and a screenshot of
    ``final_chain``."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {"errors": [], "chains": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.on("pageerror", lambda error: seen["errors"].append(str(error)))
            outside = []
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((url, "data:")) else None)
            page.goto(url)
            page.fill("#source", "\n".join(sentences))
            page.click("#translate")
            page.wait_for_function("['translated', 'error'].includes(document.body.dataset.state)")
            seen["error_text"] = page.inner_text("#error")
            seen["translations"] = page.eval_on_selector_all(
                "#results td.translation", "cells => cells.map(c => c.textContent)")
            page.click("#results tbody tr:first-child")
            page.wait_for_function("['inspected', 'error'].includes(document.body.dataset.state)")
            seen["error_text"] += page.inner_text("#error")
            tabs = page.eval_on_selector_all("#chains button", "b => b.map(t => t.dataset.chain)")
            for chain in tabs:
                page.click(f"#chains button[data-chain='{chain}']")
                seen["chains"][chain] = {
                    "layers": int(page.get_attribute("#maps", "data-layers")),
                    "canvases": page.evaluate(_CANVASES, list(BLANK)),
                    "entropy": page.eval_on_selector_all(
                        "#maps dd[data-stat='entropy']", "d => d.map(x => x.textContent)"),
                }
            seen["heads"] = page.eval_on_selector_all("#head option", "o => o.map(x => x.value)")
            page.select_option("#head", "0")
            seen["head_0_canvases"] = page.evaluate(_CANVASES, list(BLANK))
            page.select_option("#head", "mean")
            page.click(f"#chains button[data-chain='{final_chain}']")
            seen["target"] = page.inner_text("#att-target")
            page.screenshot(path=str(screenshot), full_page=True)
            seen["outside_requests"] = outside
        finally:
            browser.close()
    return seen


@pytest.mark.slow
def test_the_page_translates_and_draws_the_attention_maps(
    ea_model: TrainedModel, tmp_path: Path
) -> None:
    require_browser()
    files = resolve_model(Path("."), ea_model.model_dir)
    # a barely trained model may babble: a short length limit keeps the maps small
    translator = Translator(files, DecodeOptions(max_len_b=20), device="cpu")
    service = TranslationService(ModelSet({"ea": translator}), ServeSettings())
    screenshot = tmp_path / "serve-page.png"
    with serving(service) as url:
        seen = exercise_page(url, SENTENCES, screenshot)
        api = httpx.post(f"{url}/translate", json={"texts": SENTENCES}, timeout=120).json()

    assert seen["errors"] == [] and seen["error_text"] == ""
    assert seen["outside_requests"] == []  # the page works offline
    assert seen["translations"] == [t["text"] for t in api["translations"]]
    assert seen["target"] == seen["translations"][0]  # the maps are of the shown translation
    assert set(seen["chains"]) == {"encoder_self", "decoder_self", "cross"}
    heads = len(seen["heads"]) - 1
    assert heads >= 1 and seen["heads"][0] == "mean"
    for chain, view in seen["chains"].items():
        layers = view["layers"]
        assert layers == 2 and len(view["entropy"]) == layers, (chain, view)
        assert all(value != "—" for value in view["entropy"])
        columns = [[c["map"] for c in view["canvases"] if c["layer"] == layer]
                   for layer in range(layers)]
        assert columns == [["M", "L (plain)", "softmax"]] + [["M", "A", "softmax"]] * (layers - 1)
        maps = [c for c in view["canvases"] if not (c["layer"] == 0 and c["map"] == "M")]
        assert all(c["painted"] > 0 for c in maps), (chain, maps)  # the first M is a note
    assert all(c["painted"] > 0 for c in seen["head_0_canvases"] if c["map"] != "M" or c["layer"])
    assert screenshot.stat().st_size > 10_000


def test_without_chromium_the_test_skips_but_fails_under_ci(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no Chromium at"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test"):
        require_browser()
