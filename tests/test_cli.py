import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_existing_stages(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "demo", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "40 clips" in run.stdout
    assert (tmp_path / "prepared" / "manifest.jsonl").is_file()
    assert "40 clips with SSL, BERT and semantic features" in run.stdout
    assert "train GPT" in run.stdout  # says what comes next


def test_version_and_help() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "leanvoice 0.1.0" in run.stdout
