import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_demo_quick_runs_end_to_end_and_speaks(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "demo", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "40 clips with SSL, BERT and semantic features" in run.stdout
    assert "saved activations" in run.stdout  # the memory report of each stage
    for language in ("zh", "en"):
        samples, rate = sf.read(tmp_path / f"voice.{language}.wav")
        assert rate == 32000 and len(samples) > 0.4 * rate  # several words, not a click
        assert np.sqrt(np.mean(samples**2)) > 1e-3  # not silence
    report = json.loads((tmp_path / "report.json").read_text())["utterances"]
    assert set(report) == {"zh", "en"}
    assert {entry["speaker"] for entry in report.values()} == {"ava", "ben"}
    for entry in report.values():  # measured on the written audio
        samples, rate = sf.read(entry["file"])
        assert entry["duration_sec"] == pytest.approx(len(samples) / rate, abs=1e-3)
        assert entry["expected_sec"] > 0 and set(entry["similarity"]) == {"ava", "ben"}
        # fine-tuned from the shipped bases: each sounds closest to its own speaker, at a
        # plausible length, with no offset or clicks
        assert entry["closest_speaker"] == entry["speaker"], entry
        assert 0.5 <= entry["duration_ratio"] <= 2.0, entry
        # speech-like by every measure of the report: duration, level, ≥ 40 % of frames
        # voiced (ben's low male voice too: the smooth decoder, docs/design.md), no DC
        # offset, no clicks
        assert not entry["not_speech_like"], entry
    for name in ("gpt.ckpt", "sovits.pth"):
        assert (tmp_path / "export" / name).stat().st_size > 0
    for stage in ("gpt", "sovits"):
        assert (tmp_path / "runs" / stage / "summary.json").is_file()


def test_version_and_help() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "leanvoice 0.1.0" in run.stdout


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["synthesize"], ["plan"]])
def test_switches_show_and_parse_as_plain_switches(command: list[str]) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", *command, "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0 and "--help" in run.stdout
    assert "<bool>" not in run.stdout, run.stdout  # --help itself included


def test_a_switch_takes_no_value() -> None:
    switched = subprocess.run(
        [sys.executable, "-m", "leanvoice", "--debug", "--version"], capture_output=True, text=True
    )
    assert switched.returncode == 0 and "leanvoice" in switched.stdout
    valued = subprocess.run(
        [sys.executable, "-m", "leanvoice", "demo", "--quick", "true"],
        capture_output=True,
        text=True,
    )
    assert valued.returncode == 2 and "unexpected extra argument" in valued.stderr


def test_bench_command_runs_a_benchmark_and_prints_its_table() -> None:
    import os

    env = {**os.environ, "LEANVOICE_BENCH_PRINT_ONLY": "1"}  # the docs stay as they are
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "bench", "padding"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| demo corpus | 40 |" in run.stdout and "LeanVoice bucketing" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "leanvoice", "bench", "nonsense"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown benchmark" in bad.stderr
    options = subprocess.run(
        [sys.executable, "-m", "leanvoice", "bench", "throughput", "--size", "v2"],
        capture_output=True,
        text=True,
    )
    assert options.returncode != 0 and "--size v2 needs --data" in options.stderr
