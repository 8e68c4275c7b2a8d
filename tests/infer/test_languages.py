"""Japanese, Korean, Cantonese and mixed-language clips of the demo corpus through
prepare, features, both trainers and synthesis (tiny models, CPU)."""

import json
from pathlib import Path

import numpy as np
import pytest

from leanvoice.config import load_config
from leanvoice.data.features_step import run_feature_step
from leanvoice.data.prepare import prepare_dataset
from leanvoice.infer import SynthesisOptions, load_synthesizer
from leanvoice.text.symbols import SYMBOLS
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints

TINY = [
    "model.size=tiny",
    "memory.precision=fp32",
    "data.max_tokens=600",
    "data.max_frames=800",
    "train.audition_every=0",
    "model.language_embedding=true",
]


@pytest.fixture(scope="module")
def languages(demo_list: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("languages") / "prepared"
    result = prepare_dataset(demo_list.parent / "languages.list", out, load_config())
    assert result.skipped == 0, result.report
    run_feature_step(out, tiny=True)
    return out


def test_every_language_prepares_into_the_v2_table(languages: Path) -> None:
    clips = [json.loads(x) for x in (languages / "manifest.jsonl").read_text().splitlines()]
    assert {c["language"] for c in clips} == {"ja", "ko", "yue", "zh"}
    for clip in clips:
        assert all(0 <= i < len(SYMBOLS) for i in clip["phoneme_ids"])
        bert = np.load(languages / clip["bert_path"])
        assert bert.shape[1] == len(clip["phoneme_ids"])
    mixed = [c for c in clips if c.get("runs")]
    assert len(mixed) == 2
    for clip in mixed:  # Mandarin runs get BERT features, English runs zeros
        bert = np.abs(np.load(languages / clip["bert_path"]).astype(np.float32))
        start = 0
        for run in clip["runs"]:
            part = bert[:, start : start + run["phonemes"]]
            assert (part.sum() > 0) == (run["language"] == "zh"), run
            start += run["phonemes"]
        assert {r["language"] for r in clip["runs"]} == {"zh", "en"}


def test_trained_on_them_it_speaks_mixed_text(languages: Path, tmp_path: Path) -> None:
    for stage, steps in (("gpt", 3), ("sovits", 1)):
        overrides = [*TINY, f"train.max_steps={steps}", f"train.save_every={steps}"]
        train_stage(stage, languages, tmp_path / stage, load_config(overrides=overrides))
    gpt, sovits = (list_checkpoints(tmp_path / s)[-1] for s in ("gpt", "sovits"))
    clips = [json.loads(x) for x in (languages / "manifest.jsonl").read_text().splitlines()]
    reference = max((c for c in clips if c["language"] == "ja"), key=lambda c: c["duration_sec"])
    synth = load_synthesizer(gpt, sovits, feature_models=languages / "tiny_models")
    audio = synth.synthesize(
        languages / reference["wav"],
        reference["text"],
        "今日はいい天気ですね。我们去散步吧, okay? 안녕하세요.",
        SynthesisOptions(language="auto", reference_language="ja", seed=1),
    )
    assert len(audio) > 0.3 * 32000 and np.isfinite(audio).all()
