import json
import shutil
from pathlib import Path

import numpy as np
import torch

from leanvoice.config import load_config
from leanvoice.data.official_import import import_official_experiment, is_official_experiment
from leanvoice.data.prepare import prepare_dataset


def _write_official_experiment(exp: Path, demo_list: Path, tmp: Path) -> list[dict]:
    """Lay out four demo clips as the official WebUI's steps 1a-1c write them."""
    ours = prepare_dataset(demo_list, tmp / "ours", load_config())
    clips = [json.loads(x) for x in (ours.out / "manifest.jsonl").read_text().splitlines()]
    clips = [c for c in clips if c["id"].endswith("_00")]  # ava/ben × zh/en
    for sub in ("3-bert", "4-cnhubert", "5-wav32k"):
        (exp / sub).mkdir(parents=True)
    text_lines, semantic_lines = [], ["item_name\tsemantic_audio"]
    g = torch.Generator().manual_seed(0)
    for clip in clips:
        name = f"{clip['id']}.wav"
        shutil.copyfile(ours.out / clip["wav"], exp / "5-wav32k" / name)
        frames = clip["samples"] // 640
        torch.save(
            torch.randn(1, 768, frames, generator=g).half(), exp / "4-cnhubert" / f"{name}.pt"
        )
        if clip["word2ph"] is not None:
            bert = torch.randn(1024, len(clip["phonemes"]), generator=g).half()
            torch.save(bert, exp / "3-bert" / f"{name}.pt")
        text_lines.append(
            f"{name}\t{' '.join(clip['phonemes'])}\t{clip['word2ph']}\t{clip['normalized_text']}"
        )
        semantic_lines.append(f"{name}\t{' '.join(str(i % 1024) for i in range(frames // 2))}")
    text_lines.append("broken.wav\tAA1 QQ9\tNone\tbroken")  # an unknown phone
    (exp / "2-name2text.txt").write_text("\n".join(text_lines) + "\n", encoding="utf-8")
    (exp / "6-name2semantic.tsv").write_text("\n".join(semantic_lines), encoding="utf-8")
    return clips


def test_official_experiment_folder_becomes_a_prepared_dataset(tmp_path, demo_list) -> None:
    exp = tmp_path / "logs" / "my_voice"
    originals = _write_official_experiment(exp, demo_list, tmp_path)
    assert is_official_experiment(exp)
    out = tmp_path / "imported"
    report = import_official_experiment(exp, out)
    assert report["clips"] == 4 and len(report["skipped"]) == 1
    assert "QQ9" in report["skipped"][0]["reason"]
    clips = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    for clip, original in zip(clips, originals, strict=True):
        assert clip["phoneme_ids"] == original["phoneme_ids"]
        ssl = np.load(out / clip["ssl_path"])
        bert = np.load(out / clip["bert_path"])
        assert ssl.shape == (768, original["samples"] // 640)
        assert bert.shape == (1024, len(original["phonemes"]))
        assert bert.any() == (original["language"] == "zh")
        assert np.load(out / clip["semantic_path"]).shape == (ssl.shape[1] // 2,)
        assert (out / clip["wav"]).read_bytes() == (exp / "5-wav32k" / clip["source"]).read_bytes()
