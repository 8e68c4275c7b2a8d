"""Issue #30: no command overwrites its own input: `export g.pt g.pt`, `import`, and
`synthesize --out` naming the reference, a model or (in batch mode) a file the numbered
outputs would replace are refused in one line before anything is written."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch

from leanvoice.config.sizes import load_size
from leanvoice.models.gpt import SemanticGPT
from leanvoice.train.checkpoint import Checkpoint, NetworkState, write_checkpoint
from tests.train.test_resume import ENV


def _leanvoice(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leanvoice", *map(str, args)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def gpt_checkpoint(tmp_path) -> Path:
    """A tiny GPT training checkpoint (random weights): what export and synthesis read."""
    torch.manual_seed(0)
    size = load_size("tiny").gpt
    model = SemanticGPT(size)
    checkpoint = Checkpoint(
        step=3,
        stage="gpt",
        config={"memory": {"lora": {"rank": 0}}},
        size=dataclasses.asdict(size),
        extensions={},
        networks={"gpt": NetworkState(model.state_dict())},
    )
    path = tmp_path / "g.pt"
    write_checkpoint(path, checkpoint)
    return path


def _refused(result: subprocess.CompletedProcess, *words: str) -> str:
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and line.startswith("error: "), result.stderr[-2000:]
    assert all(word in line for word in words), line
    return line


def test_export_onto_its_own_checkpoint_is_refused(gpt_checkpoint, tmp_path) -> None:
    before = gpt_checkpoint.read_bytes()
    _refused(_leanvoice("export", gpt_checkpoint, gpt_checkpoint), "overwrite", "choose another")
    link = tmp_path / "link.ckpt"
    link.symlink_to(gpt_checkpoint)
    _refused(_leanvoice("export", gpt_checkpoint, link), "overwrite")
    relative = _leanvoice("export", gpt_checkpoint, f"{tmp_path}/./sub/../g.pt")
    _refused(relative, "overwrite")
    assert gpt_checkpoint.read_bytes() == before
    assert _leanvoice("export", gpt_checkpoint, tmp_path / "g.ckpt").returncode == 0


def test_import_onto_its_own_file_is_refused(gpt_checkpoint, tmp_path) -> None:
    official = tmp_path / "official.ckpt"
    assert _leanvoice("export", gpt_checkpoint, official).returncode == 0
    before = official.read_bytes()
    _refused(_leanvoice("import", official, official), "overwrite")
    assert official.read_bytes() == before


@pytest.mark.parametrize("onto", ["--ref", "--gpt", "--sovits"])
def test_synthesize_out_onto_an_input_is_refused(
    featured_demo, gpt_checkpoint, tmp_path, onto: str
) -> None:
    tiny = featured_demo / "tiny_models"
    reference = tmp_path / "ref.flac"
    clip = next((featured_demo / "wav32k").glob("*zh_00.wav"))
    samples, rate = soundfile.read(clip)
    soundfile.write(reference, samples, rate)
    inputs = {"--ref": reference, "--gpt": gpt_checkpoint, "--sovits": tiny / "sovits.pth"}
    before = inputs[onto].read_bytes()
    result = _leanvoice(
        "synthesize",
        *["--gpt", inputs["--gpt"], "--sovits", inputs["--sovits"], "--ref", reference],
        *["--ref-text", "今天天气很好。", "--text", "你好。", "--feature-models", tiny],
        *["--out", inputs[onto]],
    )
    _refused(result, f"is {onto} {inputs[onto]}", "overwrite")
    assert inputs[onto].read_bytes() == before


def test_a_batch_that_would_number_a_file_over_the_reference_is_refused(
    featured_demo, gpt_checkpoint, tmp_path
) -> None:
    tiny = featured_demo / "tiny_models"
    folder = tmp_path / "takes"
    folder.mkdir()
    reference = folder / "0002.wav"  # the batch's second output
    reference.write_bytes(next((featured_demo / "wav32k").glob("*zh_00.wav")).read_bytes())
    before = reference.read_bytes()
    texts = tmp_path / "texts.txt"
    texts.write_text("你好。\n再见。\n", encoding="utf-8")
    result = _leanvoice(
        "synthesize",
        *["--gpt", gpt_checkpoint, "--sovits", tiny / "sovits.pth", "--ref", reference],
        *["--ref-text", "今天天气很好。", "--text-file", texts, "--feature-models", tiny],
        *["--out", folder],
    )
    _refused(result, f"{folder / '0002.wav'} is --ref", "overwrite")
    assert reference.read_bytes() == before and sorted(folder.iterdir()) == [reference]


def test_prepare_into_its_own_source_is_refused(tmp_path) -> None:
    import subprocess
    import sys

    listing = tmp_path / "voice.list"
    listing.write_text("a.wav|spk|zh|你好。\n", encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "leanvoice",
            "prepare",
            str(listing),
            str(tmp_path / "." / "voice.list"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "would overwrite that input" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
    assert listing.read_text(encoding="utf-8") == "a.wav|spk|zh|你好。\n"
