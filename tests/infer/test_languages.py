"""Japanese, Korean, Cantonese and mixed-language clips of the demo corpus through
prepare, features, both trainers and synthesis (tiny models, CPU)."""

import json
import os
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
from tests.tiny import TINY as SHARED_TINY

TINY = [*SHARED_TINY, "model.language_embedding=true"]


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


def test_cli_prepare_takes_every_official_code_in_any_case(demo_list: Path, tmp_path: Path) -> None:
    """A .list with the five languages (upper- and lower-case codes) and mixed lines."""
    import subprocess
    import sys

    corpus = demo_list.parent
    recode = {"ja": "JA", "ko": "ko", "yue": "YUE", "zh": "zh"}
    lines = []
    for line in (corpus / "languages.list").read_text(encoding="utf-8").splitlines():
        wav, speaker, lang, text = line.split("|")
        lines.append(f"{corpus / wav}|{speaker}|{recode[lang]}|{text}")
    demo = (corpus / "demo.list").read_text(encoding="utf-8").splitlines()
    wav, speaker, _, _ = demo[10].split("|")  # an English clip, relabelled
    lines.append(f"{corpus / wav}|{speaker}|EN|{demo[10].split('|')[3]}")
    wav, speaker, _, text = demo[0].split("|")
    lines.append(f"{corpus / wav}|{speaker}|ZH|{text}")
    source = tmp_path / "five.list"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "prepare", str(source), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "30"},
    )
    assert run.returncode == 0, run.stderr
    assert "not supported" not in run.stdout + run.stderr
    assert f"manifest: {tmp_path / 'out' / 'manifest.jsonl'}" in run.stdout  # never wrapped
    clips = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(clips) == len(lines)
    assert {c["language"] for c in clips} == {"zh", "ja", "en", "ko", "yue"}
    assert all(0 <= i < len(SYMBOLS) for c in clips for i in c["phoneme_ids"])
