"""Reliability rows of issue #30: Ctrl-C saves, NaN/inf config values and a checkpoint of
another size each get one line, not a traceback or a lost run."""

import json
import signal
import subprocess
import sys
import time

import pytest

from leanvoice.config import load_config
from leanvoice.errors import ConfigError
from leanvoice.train.checkpoint import checkpoint_path
from leanvoice.train.gpt import GPTTrainer
from tests.tiny import TINY
from tests.train.test_resume import ENV


@pytest.mark.parametrize("override", ["train.lr=nan", "data.max_sec=inf", "train.lr=-inf"])
def test_non_finite_numbers_are_refused_naming_the_key(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=f"{key}=.* must be a finite number"):
        load_config(overrides=[override])


def test_resuming_a_checkpoint_of_another_size_says_which_size(featured_demo, tmp_path) -> None:
    run = tmp_path / "run"
    tiny = load_config(overrides=[*TINY, "train.max_steps=1"])
    GPTTrainer(tiny, featured_demo, run).train()
    other = load_config(overrides=[*TINY, "train.max_steps=2", "model.size=v2"])
    with pytest.raises(ConfigError, match=r"made with model.size=tiny .*resume with model.size"):
        GPTTrainer(other, featured_demo, run).train()


def test_ctrl_c_saves_a_checkpoint_and_says_so(featured_demo, tmp_path) -> None:
    run = tmp_path / "run"
    command = [
        *[sys.executable, "-m", "leanvoice", "train", "gpt"],
        *["--data", str(featured_demo), "--out", str(run)],
        *TINY,
        "train.save_every=0",
        "train.max_steps=400",
    ]
    process = subprocess.Popen(
        command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    metrics = run / "metrics.jsonl"
    while not metrics.exists() or metrics.read_text().count("\n") < 2:
        assert process.poll() is None and time.monotonic() < deadline, "run ended too soon"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_on_request"] and summary["steps"] < 400, output[-2000:]
    assert checkpoint_path(run, summary["steps"]).exists()  # saved though save_every=0
    assert "Ctrl-C" in output and "stopped at step" in output
