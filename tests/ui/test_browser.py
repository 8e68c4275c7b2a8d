"""The web UI end to end in a real headless Chromium (Debian's), driven by Playwright:
prepare the demo corpus, plan, train a tiny GPT (the loss plot updates; a page refresh
shows the same run; a second start into the same folder is refused; stop leaves a
checkpoint), train a tiny SoVITS, synthesize, export. Screenshots of each tab go to
LEANVOICE_SCREENSHOTS (default: the test's tmp folder); LEANVOICE_UPDATE_SCREENSHOTS=1
writes them to docs/screenshots/ for the README.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.ui.server import running_ui

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).parents[2] / "docs" / "screenshots"
TINY = (
    "memory.precision=fp32 train.save_every=20 train.audition_every=25 "
    "data.max_tokens=600 data.max_sec=8"
)


def _requirements() -> str | None:
    try:
        import gradio  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the UI test needs gradio and playwright ({exc})"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (.ci/run installs Debian's chromium)"
    return None


REASON = _requirements()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
if REASON is not None:
    print(f"UI browser test skipped: {REASON}", file=sys.stderr)


@pytest.fixture
def server(tmp_path):
    workspace = tmp_path / "workspace"
    with running_ui(workspace, tmp_path / "ui.log") as url:
        yield url, workspace


def _shots() -> Path:
    if os.environ.get("LEANVOICE_UPDATE_SCREENSHOTS") == "1":
        return DOCS
    return Path(os.environ.get("LEANVOICE_SCREENSHOTS", "")) or Path.cwd()


def _pick(page, elem_id: str, value: str) -> None:
    """Type a value into a Gradio dropdown (custom values allowed) or textbox."""
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.click()
    box.fill(value)
    box.press("Enter")
    page.locator("h1").first.click()  # blur: the value is committed


def _status(page, elem_id: str, wanted: str, timeout_s: float) -> str:
    locator = page.locator(f"#{elem_id}")
    locator.filter(has_text=wanted).wait_for(timeout=timeout_s * 1000)
    return locator.inner_text()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_the_whole_workflow_in_a_browser(server, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    url, workspace = server
    shots = (
        _shots()
        if os.environ.get("LEANVOICE_SCREENSHOTS") or os.environ.get("LEANVOICE_UPDATE_SCREENSHOTS")
        else tmp_path / "screenshots"
    )
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        try:
            _workflow(page, browser, url, workspace, shots)
        except Exception:
            page.screenshot(path=shots / "failure.png", full_page=True)
            print(f"failure screenshot: {shots / 'failure.png'}", file=sys.stderr)
            raise
        browser.close()
    assert {p.name for p in shots.glob("*.png")} >= {
        "data.png",
        "plan.png",
        "train.png",
        "synthesize.png",
        "export.png",
    }


def _workflow(page, browser, url: str, workspace: Path, shots: Path) -> None:
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"{time.monotonic() - started:6.1f} s  {name}", file=sys.stderr)

    if True:
        # Data: bad input first, then the demo corpus
        page.locator("#data-source textarea, #data-source input").first.fill("/no/such/folder")
        page.locator("#data-prepare").click()
        assert "no such file or folder" in _status(page, "data-status", "Error", 30)
        page.locator("#data-use-demo").click()
        page.locator("#data-prepare").click()
        report = _status(page, "data-status", "ready to train", 300)
        assert "40 clips" in report and "speaker" in report
        page.locator("#data-histogram img").wait_for()
        page.screenshot(path=shots / "data.png", full_page=True)

        phase("data")
        # Plan: a tiny GPT on a 64 MB budget, for a v2ProPlus voice
        _tab(page, "Plan")
        _pick(page, "plan-size", "tiny")
        _pick(page, "plan-version", "v2ProPlus")
        _pick(page, "plan-vram", "64MB")
        page.locator("#plan-run").click()
        planned = _status(page, "plan-status", "Fits", 300)
        assert "data.max_tokens=" in planned and "model.version=v2ProPlus" in planned
        page.locator("#plan-plot img").wait_for()
        page.screenshot(path=shots / "plan.png", full_page=True)

        phase("plan")
        # Train: bad input, then a GPT run whose loss plot updates
        _tab(page, "Train")
        page.locator("#train-start").click()
        assert "choose a prepared dataset" in _status(page, "train-status", "Error", 30)
        _pick(page, "train-dataset", "demo")
        _pick(page, "train-run", "gpt-ui")
        _pick(page, "train-size", "tiny")
        _pick(page, "train-steps", "100000")
        _pick(page, "train-extra", TINY)
        page.locator("#train-start").click()
        _status(page, "train-status", "running", 60)
        first = _loss_image(page)
        deadline = time.monotonic() + 120
        while _loss_image(page) == first or "step 0/" in page.locator("#train-status").inner_text():
            assert time.monotonic() < deadline, "the loss plot did not update"
            time.sleep(0.5)
        page.locator("#train-audition audio, #train-audition button").first.wait_for(
            timeout=120_000
        )

        phase("gpt run")
        # a refresh shows the same run, still going; a second start is refused
        page.reload()
        _tab(page, "Train")
        assert "running" in _status(page, "train-status", "running", 30)
        assert "gpt-ui" in page.locator("#train-run input").input_value()
        assert page.locator("#train-version input").input_value() == "v2"  # the run's version
        page.screenshot(path=shots / "train.png", full_page=True)
        other = browser.new_page()
        other.goto(url)
        _tab(other, "Train")
        _pick(other, "train-dataset", "demo")
        _pick(other, "train-run", "gpt-ui")
        other.locator("#train-start").click()
        assert "already going" in _status(other, "train-status", "Error", 30)
        other.close()
        runs = list((workspace / "runs").iterdir())
        assert [r.name for r in runs] == ["gpt-ui"]

        # stop: the run writes a checkpoint and says it can resume
        page.locator("#train-stop").click()
        _status(page, "train-status", "stopped at step", 120)
        summary = json.loads((workspace / "runs" / "gpt-ui" / "summary.json").read_text())
        assert summary["stopped_on_request"]
        gpt = workspace / "runs" / "gpt-ui" / "checkpoints" / f"step-{summary['steps']:08d}.pt"
        assert gpt.exists()

        phase("stop")
        # a short SoVITS run to synthesize with
        page.locator("#train-stage label").filter(has_text="sovits").click()
        _pick(page, "train-run", "sovits-ui")
        _pick(page, "train-steps", "2")
        _pick(
            page,
            "train-extra",
            "memory.precision=fp32 train.save_every=2 train.audition_every=0 data.max_frames=600",
        )
        page.locator("#train-start").click()
        _status(page, "train-status", "finished", 300)
        sovits = workspace / "runs" / "sovits-ui" / "checkpoints" / "step-00000002.pt"
        assert sovits.exists()

        phase("sovits run")
        # Synthesize: upload the reference, get an audio element with a source
        _tab(page, "Synthesize")
        _pick(page, "synth-gpt", str(gpt))
        _pick(page, "synth-sovits", str(sovits))
        _pick(page, "synth-features", str(workspace / "data" / "demo" / "tiny_models"))
        reference = _reference(workspace / "data" / "demo")
        page.locator("#synth-reference input[type=file]").set_input_files(reference["path"])
        page.locator("#synth-reference audio, #synth-reference button").first.wait_for()
        page.locator("#synth-ref-text textarea").fill(reference["text"])
        page.locator("#synth-text textarea").fill("你好，世界。Hello world.")
        page.locator("#synth-run").click()
        status = _status(page, "synth-status", "s of audio", 300)
        assert "s of audio" in status and "% of frames voiced" in status  # the quality report
        page.locator("#synth-result audio").first.wait_for(state="attached", timeout=60_000)
        sources = page.locator("#synth-result audio").evaluate_all(
            "els => els.map(a => a.currentSrc || a.src || '')"
        )
        assert any(sources), page.locator("#synth-result").inner_html()[:4000]
        assert page.locator("#synth-download a").first.get_attribute("href")
        page.screenshot(path=shots / "synthesize.png", full_page=True)

        phase("synthesize")
        # Export: official files, and where they are
        _tab(page, "Export")
        _pick(page, "export-checkpoint", str(gpt))
        page.locator("#export-run").click()
        assert "wrote" in _status(page, "export-status", "wrote", 120)
        assert (workspace / "out" / "export" / "voice.ckpt").exists()
        page.screenshot(path=shots / "export.png", full_page=True)

        assert "Traceback" not in page.content()
        phase("export")


def _loss_image(page) -> str | None:
    image = page.locator("#train-loss img")
    return image.get_attribute("src") if image.count() else None


def _reference(prepared: Path) -> dict:
    """A 3-10 s clip of the prepared demo and its transcript."""
    for line in (prepared / "manifest.jsonl").read_text().splitlines():
        clip = json.loads(line)
        if 3.0 <= clip["samples"] / 32000 <= 10.0 and clip["language"] == "zh":
            return {"path": str(prepared / clip["wav"]), "text": clip["text"]}
    raise AssertionError("no 3-10 s clip in the demo corpus")
