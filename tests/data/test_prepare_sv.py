"""`prepare --sv`: the v2Pro speaker embedding per clip, and its official import."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from leanvoice.audio.io import load_audio
from leanvoice.cli import app
from leanvoice.data.features_step import run_feature_step
from leanvoice.data.manifest import read_manifest
from leanvoice.data.official_import import import_official_experiment
from leanvoice.errors import InputError
from leanvoice.features.sv import SpeakerEmbedder
from leanvoice.features.tiny import TINY_SV_DIM
from leanvoice.fsutil import atomic_write_text

FOUR_CLIPS = (1, 2, 11, 31)  # demo.list lines: ava zh ×2, ava en, ben en


def _prepare(corpus: Path, out: Path, *options: str):
    lines = (corpus / "demo.list").read_text(encoding="utf-8").splitlines()
    atomic_write_text(corpus / "four.list", "".join(lines[n - 1] + "\n" for n in FOUR_CLIPS))
    args = ["prepare", str(corpus / "four.list"), str(out), "--tiny-features", *options]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def with_sv(tmp_path_factory, featured_demo: Path, demo_list: Path) -> Path:
    """The featured demo corpus prepared again with `--sv tiny`: only the speaker
    embeddings are computed (the rest is resumed)."""
    out = tmp_path_factory.mktemp("with_sv") / "prepared"
    shutil.copytree(featured_demo, out)
    args = ["prepare", str(demo_list), str(out), "--tiny-features", "--sv", "tiny"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "features: 40 clips (40 computed now) → ssl/, bert/, semantic/, sv/" in result.output
    return out


def test_each_clip_gets_its_speaker_embedding(with_sv: Path) -> None:
    clips = read_manifest(with_sv, need_features=True)
    assert len(clips) == 40
    embedder = SpeakerEmbedder(with_sv / "tiny_models" / "sv.ckpt")
    for clip in clips:
        assert clip.sv_path == f"sv/{clip.id}.npy"
        stored = np.load(with_sv / clip.sv_path)
        assert stored.dtype == np.float16 and stored.shape == (TINY_SV_DIM,)
        audio = load_audio(with_sv / clip.wav)
        fresh = embedder.extract(audio.samples, audio.sample_rate)
        np.testing.assert_allclose(stored, fresh, rtol=2e-3, atol=1e-4)  # fp16 of the same
    line = json.loads((with_sv / "manifest.jsonl").read_text().splitlines()[0])
    assert line["sv_path"] == f"sv/{line['id']}.npy"


def test_rerun_resumes_and_keeps_the_embeddings(with_sv: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    shutil.copytree(with_sv, out)
    first = sorted((out / "sv").glob("*.npy"))
    first[0].unlink()  # as if killed before this clip's embedding was written
    before = {p.name: p.stat().st_mtime_ns for p in first[1:]}
    again = run_feature_step(out, tiny=True, sv="tiny")
    assert again.computed == 1 and again.clips == 40
    assert {p.name: p.stat().st_mtime_ns for p in first[1:]} == before
    assert first[0].is_file()
    # a later run without --sv keeps what is there in the manifest
    run_feature_step(out, tiny=True)
    assert all(clip.sv_path for clip in read_manifest(out))


def test_unusable_sv_option_is_an_input_error_naming_the_fix(tmp_path: Path, demo_list) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(demo_list.parent, corpus)
    result = _prepare(corpus, tmp_path / "out", "--sv", str(tmp_path / "missing.ckpt"))
    assert isinstance(result.exception, InputError)  # `main` prints it in one line
    assert str(result.exception) == f"{tmp_path / 'missing.ckpt'}: checkpoint not found"
    result = CliRunner().invoke(
        app, ["prepare", str(corpus / "four.list"), str(tmp_path / "real"), "--sv", "tiny"]
    )
    assert isinstance(result.exception, InputError)
    assert "feature extraction needs --hubert" in str(result.exception)


def test_sv_tiny_needs_tiny_features(with_sv: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    shutil.copytree(with_sv, out)
    with pytest.raises(InputError, match="--sv tiny goes with --tiny-features"):
        run_feature_step(out, hubert=out, bert=out, sovits=out, sv="tiny")


def test_official_pro_experiment_imports_its_speaker_embeddings(
    tmp_path: Path, with_sv: Path
) -> None:
    exp = tmp_path / "logs" / "pro_voice"
    clips = read_manifest(with_sv)
    for sub in ("4-cnhubert", "5-wav32k", "7-sv_cn", "3-bert"):
        (exp / sub).mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    text_lines, semantic_lines, originals = [], ["item_name\tsemantic_audio"], {}
    for clip in [c for c in clips if c.language == "en"][:2]:  # English: no BERT files
        name = f"{clip.id}.wav"
        shutil.copyfile(with_sv / clip.wav, exp / "5-wav32k" / name)
        frames = clip.samples // 640
        torch.save(
            torch.randn(1, 768, frames, generator=g).half(), exp / "4-cnhubert" / f"{name}.pt"
        )
        originals[clip.id] = torch.randn(1, 20480, generator=g).half()  # as 2-get-sv.py on a GPU
        torch.save(originals[clip.id], exp / "7-sv_cn" / f"{name}.pt")
        text_lines.append(f"{name}\t{' '.join(clip.phonemes)}\tNone\t{clip.normalized_text}")
        semantic_lines.append(f"{name}\t{' '.join(['7'] * (frames // 2))}")
    (exp / "2-name2text.txt").write_text("\n".join(text_lines) + "\n", encoding="utf-8")
    (exp / "6-name2semantic.tsv").write_text("\n".join(semantic_lines), encoding="utf-8")
    missing = next(iter(originals))
    report = import_official_experiment(exp, tmp_path / "imported")
    assert report["clips"] == 2 and not report["skipped"]
    for clip in read_manifest(tmp_path / "imported", need_features=True):
        stored = np.load(tmp_path / "imported" / clip.sv_path)
        assert stored.dtype == np.float16 and stored.shape == (20480,)
        np.testing.assert_array_equal(stored, originals[clip.id][0].numpy())
    # a Pro folder with one embedding missing: that clip is skipped and reported
    (exp / "7-sv_cn" / f"{missing}.wav.pt").unlink()
    report = import_official_experiment(exp, tmp_path / "again")
    assert report["clips"] == 1
    assert "7-sv_cn" in report["skipped"][0]["reason"]
