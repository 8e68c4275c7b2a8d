"""Issue #30: a clip prepare cannot write is skipped and reported in one line naming the
file (and tried again by the next run); the wording rows: after a failed write the
newest checkpoint is the one named as kept, a corrupt file's message is whole, and a raw
pickle's refusal names the global it refused."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.config import load_config
from leanvoice.data.prepare import prepare_dataset
from leanvoice.errors import InputError, OutputError
from leanvoice.train import checkpoint as ckpt
from tests.train.test_resume import ENV

DEMO = Path(__file__).parents[2] / "src" / "leanvoice" / "demo_data"


def _two_clip_list(tmp_path: Path) -> Path:
    lines = (DEMO / "demo.list").read_text(encoding="utf-8").splitlines()[:2]
    source = tmp_path / "two.list"
    source.write_text("".join(f"{DEMO}/{line}\n" for line in lines), encoding="utf-8")
    return source


def _unwritable_clip(out: Path, how: str) -> Path:
    """Make the first clip's file impossible to write: its folder read-only (only
    enforced for a user other than root), or a folder where the file goes."""
    wavs = out / "wav32k"
    wavs.mkdir(parents=True)
    if how == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the other case covers it")
        wavs.chmod(0o555)
    else:
        (wavs / "ava_ava_zh_00.wav").mkdir()
    return wavs / "ava_ava_zh_00.wav"


@pytest.mark.parametrize("how", ["read-only folder", "a folder in the file's place"])
def test_a_clip_that_cannot_be_written_is_skipped_in_one_line_naming_it(tmp_path, how) -> None:
    source, out = _two_clip_list(tmp_path), tmp_path / "out"
    target = _unwritable_clip(out, how)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "leanvoice", "prepare", str(source), str(out)],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        target.parent.chmod(0o755)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    (skipped,) = report["skipped"]
    assert skipped["reason"].startswith(f"clip ava_ava_zh_00: {target}: could not write (")
    assert report["clips"] == 1 and result.returncode == 0
    assert f"skipped {source}:1: clip ava_ava_zh_00: " in " ".join(result.stdout.split())
    if target.is_dir():
        target.rmdir()
    again = prepare_dataset(source, out, load_config())  # the clip is tried again
    assert again.clips == 2 and again.processed_now == 1 and target.is_file()


def test_after_a_failed_write_the_newest_checkpoint_is_named_as_kept(tmp_path) -> None:
    """Step 15 is written, its copy to best.pt fails: step 15 (not 10) is what is kept."""
    run = tmp_path / "run"
    state = ckpt.NetworkState({"w": torch.zeros(1)})
    ckpt.save_checkpoint(run, ckpt.Checkpoint(10, "gpt", {}, {}, {}, {"gpt": state}), keep=3)
    (run / "checkpoints" / ckpt.BEST).mkdir()  # best.pt cannot be replaced
    with pytest.raises(OutputError) as error:
        ckpt.save_checkpoint(
            run, ckpt.Checkpoint(15, "gpt", {}, {}, {}, {"gpt": state}), keep=3, best=True
        )
    message = str(error.value)
    assert "best.pt: could not write" in message
    assert "step-00000015.pt is kept" in message and "step-00000010" not in message


def test_export_of_a_corrupt_file_says_whole_sentences(tmp_path) -> None:
    """torch's message for a zip without its directory runs on for three sentences."""
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04" + bytes(3000))
    result = subprocess.run(
        [sys.executable, "-m", "leanvoice", "export", str(corrupt), str(tmp_path / "x.ckpt")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and line.startswith(f"error: {corrupt}: not a readable")
    assert line.endswith("failed finding central directory)"), line  # not cut mid-sentence
    empty_pickle = tmp_path / "short.pt"
    empty_pickle.write_bytes(pickle.dumps({"w": 1}, protocol=2)[:-4])  # ends early
    with pytest.raises(InputError, match=r"truncated or corrupt: the file ends early\)$"):
        read_checkpoint(empty_pickle)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_raw_pickles_refusal_names_the_global(tmp_path, protocol: int) -> None:
    marker = tmp_path / "payload_ran"
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"weight": _Payload(marker)}, protocol=protocol))
    with pytest.raises(InputError) as error:
        read_checkpoint(raw)
    assert not marker.exists()
    message = str(error.value)
    assert "refused to load: it names the global os.makedirs" in message, message
    assert "weights_only" not in message and "\n" not in message
    with pytest.raises(InputError, match=r"the global os\.makedirs"):  # the trainer's reader
        ckpt.read_checkpoint_file(raw)
