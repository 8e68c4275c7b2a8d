"""The optional extensions are reachable from the config: the GPT's DPO loss and
language-ID embedding, SoVITS's F0 conditioning. Each trains (loss falls), resumes,
speaks through synthesis, and is refused by the official export."""

import json

import numpy as np
import pytest
import torch

from leanvoice.config import load_config
from leanvoice.errors import LeanVoiceError
from leanvoice.infer import SynthesisOptions, load_synthesizer
from leanvoice.infer.export import export_checkpoint
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints
from tests.tiny import TINY as SHARED_TINY

TINY = [*SHARED_TINY, "train.lr=2e-3"]
EXTENSIONS = {
    "gpt": ["train.dpo=true", "model.language_embedding=true"],
    "sovits": ["model.f0_conditioning=true"],
}
STEPS = {"gpt": 16, "sovits": 8}


def _losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def extended(featured_demo, tmp_path_factory):
    """Each stage trained with its extensions: half the steps, then resumed to the end."""
    root = tmp_path_factory.mktemp("extended")
    for stage, steps in STEPS.items():
        for until in (steps // 2, steps):
            cfg = load_config(overrides=[*TINY, *EXTENSIONS[stage], f"train.max_steps={until}"])
            summary = train_stage(stage, featured_demo, root / stage, cfg)
        assert summary["steps"] == steps and summary["steps_this_run"] == steps // 2
    return root


@pytest.mark.parametrize("stage", ["gpt", "sovits"])
def test_extensions_train_and_resume(extended, stage) -> None:
    losses = _losses(extended / stage)
    assert len(losses) == STEPS[stage]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # it learns
    state = torch.load(list_checkpoints(extended / stage)[-1], weights_only=True)
    if stage == "gpt":
        assert state["extensions"] == {"num_languages": 5}
        assert "language_embedding.weight" in state["model"]
        assert state["config"]["train"]["dpo"] is True
    else:
        assert state["extensions"] == {"f0_conditioning": True}
        assert "f0_embedding.weight" in state["model"]


def test_extended_models_speak_and_are_not_exported(extended, featured_demo, tmp_path) -> None:
    gpt, sovits = (list_checkpoints(extended / stage)[-1] for stage in ("gpt", "sovits"))
    synth = load_synthesizer(gpt, sovits, feature_models=featured_demo / "tiny_models")
    assert synth.gpt.language_embedding is not None and synth.sovits.f0_embedding is not None
    clips = [json.loads(x) for x in (featured_demo / "manifest.jsonl").read_text().splitlines()]
    reference = next(c for c in clips if c["language"] == "zh" and c["duration_sec"] >= 3)
    audio = synth.synthesize(
        featured_demo / reference["wav"], reference["text"], "今天天气很好。", SynthesisOptions()
    )
    # the models refuse to run without language ids / an F0 track: audio means both went in
    # (how long a 16-step GPT speaks before EOS is not what this checks)
    assert len(audio) >= 1280 and len(audio) % 1280 == 0 and np.isfinite(audio).all()
    for checkpoint, out in ((gpt, "gpt.ckpt"), (sovits, "sovits.pth")):
        with pytest.raises(LeanVoiceError, match="official tools cannot"):
            export_checkpoint(checkpoint, tmp_path / out)
