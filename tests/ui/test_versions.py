"""The web UI reads the SoVITS version as the CLI does (issue 28), driven through a real
`leanvoice ui` with gradio_client: Data with the tiny speaker model writes sv/*.npy;
Train with version v2Pro (and v4) trains that SoVITS (its summary's config says so) and
the run, chosen again, brings its version back; Synthesize speaks the v2Pro voice with
the speaker model of its field, and the v4 voice at 48 kHz with the vocoder of its."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import typing
from pathlib import Path

import pytest

from leanvoice.demo import demo_corpus_list
from tests.ui.server import running_ui

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

TINY_FEATURES = "built-in tiny models (test, demo)"
# tiny, fast settings for a SoVITS run of one step (the size is the Model size field)
TINY_RUN = (
    "memory.precision=fp32 data.max_tokens=600 data.max_frames=800 "
    "train.audition_every=0 train.save_every=1"
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def test_the_version_choices_are_the_configs() -> None:
    from leanvoice.config.schema import ModelConfig
    from leanvoice.ui.app import VERSIONS

    hints = typing.get_type_hints(ModelConfig)
    assert sorted(VERSIONS) == sorted(typing.get_args(hints["version"]))
    assert VERSIONS[0] == ModelConfig().version  # the dropdowns' default is the config's


@pytest.fixture
def ui(tmp_path):
    workspace = tmp_path / "ws"
    with running_ui(workspace, tmp_path / "ui.log") as url:
        yield gradio_client.Client(url, verbose=False), workspace


def _four_clips(folder: Path) -> Path:
    corpus = demo_corpus_list()
    lines = [line for line in corpus.read_text(encoding="utf-8").splitlines() if "|zh|" in line]
    listing = folder / "four.list"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{corpus.parent}/{line}\n" for line in lines[:4]), "utf-8")
    return listing


def _tiny_gpt(path: Path) -> Path:
    """A random tiny GPT checkpoint: the GPT is the same model in every version."""
    from leanvoice.config.sizes import load_size
    from leanvoice.models.gpt import SemanticGPT
    from leanvoice.train.checkpoint import Checkpoint, NetworkState, write_checkpoint

    size = load_size("tiny").gpt
    networks = {"gpt": NetworkState(SemanticGPT(size).state_dict())}
    config = {"memory": {"lora": {"rank": 0}}}
    write_checkpoint(
        path, Checkpoint(1, "gpt", config, dataclasses.asdict(size), {}, networks=networks)
    )
    return path


def test_the_versions_through_the_ui_api(ui, tmp_path) -> None:
    client, workspace = ui
    listing = _four_clips(tmp_path / "src")

    # Data: 'tiny' goes with the tiny models only; with them, every clip gets sv/ID.npy
    refused = client.predict(
        str(listing), "pro", "auto", 15, "official models (paths below)", "h", "b", "s", "tiny",
        api_name="/prepare",
    )  # fmt: skip
    assert refused[0].startswith("**Error:**") and "tiny models" in refused[0], refused
    status, _, _ = client.predict(
        str(listing), "pro", "auto", 15, TINY_FEATURES, "", "", "", "tiny", api_name="/prepare"
    )
    assert "speaker embeddings (sv/)" in status, status
    data = workspace / "data" / "pro"
    clips = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert len(clips) == 4
    assert {p.stem for p in (data / "sv").glob("*.npy")} == {c["id"] for c in clips}
    assert (data / "tiny_models" / "sv.ckpt").is_file()

    # Train: the version becomes model.version=v2Pro; one not offered starts nothing
    with pytest.raises(gradio_client.exceptions.AppError, match="not in the list of choices"):
        client.predict(
            "sovits", "pro", "bad", "(none)", "tiny", 1, TINY_RUN, "v5", api_name="/start_run"
        )
    assert not (workspace / "runs" / "bad").exists()
    for name, version in (("pro-run", "v2Pro"), ("v4-run", "v4")):  # two processes at once
        started = client.predict(
            "sovits", "pro", name, "(none)", "tiny", 1, TINY_RUN, version, api_name="/start_run"
        )
        assert started[0].startswith("started sovits run"), started
        settings = json.loads((workspace / "runs" / name / "ui-settings.json").read_text())
        assert f"model.version={version}" in settings["overrides"]
    for name, version in (("pro-run", "v2Pro"), ("v4-run", "v4")):
        summary = _summary(workspace / "runs" / name)
        assert summary["config"]["model"]["version"] == version
    run = workspace / "runs" / "pro-run"

    # chosen again, the run fills the form back: its version in the dropdown, not in extra
    stage, dataset, _, size, steps, extra, version = client.predict(
        "pro-run", api_name="/fill_form"
    )
    assert (stage, dataset, size, steps, version) == ("sovits", "pro", "tiny", 1, "v2Pro")
    assert "model.version" not in extra and "train.save_every=1" in extra

    # Synthesize: the speaker model field reaches load_synthesizer (these feature models
    # lack the tiny sv.ckpt and vocoder.pth, used when present); the audio is 32 kHz
    models = tmp_path / "src" / "models"
    unused = shutil.ignore_patterns("sv.ckpt", "vocoder.pth")
    shutil.copytree(data / "tiny_models", models, ignore=unused)
    sovits = run / "checkpoints" / "best.pt"
    gpt = _tiny_gpt(tmp_path / "src" / "gpt.pt")
    reference = gradio_client.handle_file(str(data / clips[0]["wav"]))
    asked = [str(gpt), str(sovits), str(models), reference, clips[0]["text"], "你好。", "auto", 0]
    spoken = client.predict(*asked, "", "", api_name="/synthesize")
    assert spoken[0].startswith("**Error:**") and "speaker embedding" in spoken[0], spoken
    sv = str(data / "tiny_models" / "sv.ckpt")
    spoken = client.predict(*asked, sv, "", api_name="/synthesize")
    assert "s of audio at 32 kHz" in spoken[0], spoken

    # v4: the vocoder field reaches load_synthesizer; the audio is 48 kHz
    asked[1] = str(workspace / "runs" / "v4-run" / "checkpoints" / "best.pt")
    spoken = client.predict(*asked, "", "", api_name="/synthesize")
    assert spoken[0].startswith("**Error:**") and "vocoder" in spoken[0], spoken
    vocoder = str(data / "tiny_models" / "vocoder.pth")
    spoken = client.predict(*asked, "", vocoder, api_name="/synthesize")
    assert "s of audio at 48 kHz, 8 flow steps, guidance 0" in spoken[0], spoken
    # the flow-matching sampler's fields reach it; guidance out of range: one line
    spoken = client.predict(*asked, "", vocoder, 2, "0.5", api_name="/synthesize")
    assert "48 kHz, 2 flow steps, guidance 0.5" in spoken[0], spoken
    spoken = client.predict(*asked, "", vocoder, 0, "3", api_name="/synthesize")
    assert spoken[0].startswith("**Error:**") and "guidance 3.0: give" in spoken[0], spoken


def _summary(run: Path) -> dict:
    """The run's summary.json, once its process wrote it."""
    deadline = time.monotonic() + 300
    while not (run / "summary.json").is_file():
        log = (run / "train.log").read_text(errors="replace")[-2000:]
        assert time.monotonic() < deadline and (run / ".leanvoice-run.lock").exists(), log
        time.sleep(0.5)
    return json.loads((run / "summary.json").read_text())
