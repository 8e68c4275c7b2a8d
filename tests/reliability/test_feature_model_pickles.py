"""Issue #30: a `--hubert`/`--bert` folder whose `pytorch_model.bin` is a malicious pickle
runs nothing and is refused in one line, as every other checkpoint; `model.safetensors`
is preferred, and a plain `pytorch_model.bin` (as the official chinese-hubert-base ships)
loads through the restricted loader to the same weights."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from leanvoice.errors import InputError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from tests.train.test_resume import ENV


class _Payload:
    """Pickles to a call that would create a folder: the loader must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _as_pickled_folder(source: Path, target: Path, weights: dict) -> Path:
    """`source`'s model folder with its weights as `pytorch_model.bin` holding `weights`."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors"))
    torch.save(weights, target / "pytorch_model.bin")
    return target


def test_a_malicious_hubert_bin_runs_nothing_and_is_refused_in_one_line(
    featured_demo, prepared_demo, tmp_path
) -> None:
    tiny = featured_demo / "tiny_models"
    marker = tmp_path / "payload_ran"
    evil = _as_pickled_folder(tiny / "hubert", tmp_path / "hubert", {"w": _Payload(marker)})
    with pytest.raises(InputError) as error:
        SSLExtractor(evil)
    message = str(error.value)
    assert message.startswith(f"{evil / 'pytorch_model.bin'}: refused to load: it names the")
    assert "os.makedirs" in message and "weights_only" not in message and "\n" not in message
    out = tmp_path / "prepared"
    shutil.copytree(prepared_demo.out, out)  # the clips are done: prepare goes to features
    command = [sys.executable, "-m", "leanvoice", "prepare", str(prepared_demo.report["source"])]
    command += [str(out), "--hubert", str(evil), "--bert", str(tiny / "bert")]
    command += ["--sovits", str(tiny / "sovits.pth")]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert not marker.exists()
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and line.startswith("error: ") and "refused to load" in line
    assert "Traceback" not in result.stdout + result.stderr
    assert "weights_only" not in result.stdout + result.stderr


def test_a_malicious_bert_bin_is_refused_without_running(featured_demo, tmp_path) -> None:
    marker = tmp_path / "payload_ran"
    source = featured_demo / "tiny_models" / "bert"
    evil = _as_pickled_folder(source, tmp_path / "bert", {"w": _Payload(marker)})
    with pytest.raises(InputError, match=r"refused to load: it names the global os\.makedirs"):
        BertExtractor(evil)
    assert not marker.exists()


def test_a_plain_bin_loads_the_same_weights_and_safetensors_wins(featured_demo, tmp_path) -> None:
    source = featured_demo / "tiny_models" / "hubert"
    weights = load_file(str(source / "model.safetensors"))
    plain = _as_pickled_folder(source, tmp_path / "plain", weights)
    loaded = SSLExtractor(plain).model.state_dict()
    reference = SSLExtractor(source).model.state_dict()
    assert loaded.keys() == reference.keys()
    assert all(torch.equal(loaded[key], reference[key]) for key in reference)
    both = _as_pickled_folder(source, tmp_path / "both", {"w": _Payload(tmp_path / "ran")})
    shutil.copy(source / "model.safetensors", both)  # beside a bin that must not be read
    assert SSLExtractor(both).dim == SSLExtractor(source).dim
    assert not (tmp_path / "ran").exists()
