import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanvoice.config import load_config
from leanvoice.data.prepare import RECORDS_DIR, prepare_dataset
from leanvoice.text.symbols import SYMBOLS


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_demo_corpus_prepares_every_clip(prepared_demo) -> None:
    clips = _manifest(prepared_demo.out)
    assert len(clips) == 40 and prepared_demo.skipped == 0
    report = json.loads((prepared_demo.out / "report.json").read_text())
    assert report["clips_per_speaker"] == {"ava": 20, "ben": 20}
    assert report["clips_per_language"] == {"en": 20, "zh": 20}
    assert sum(b["clips"] for b in report["duration_histogram"]) == 40
    for clip in clips:
        info = sf.info(str(prepared_demo.out / clip["wav"]))
        assert (info.samplerate, info.channels) == (32000, 1)
        assert info.frames == clip["samples"]
        assert clip["frames"] == clip["samples"] // 640
        assert all(0 <= i < len(SYMBOLS) for i in clip["phoneme_ids"])


def test_no_clip_exceeds_max_sec(prepared_demo, prepared_awkward) -> None:
    for result in (prepared_demo, prepared_awkward):
        for clip in _manifest(result.out):
            assert clip["duration_sec"] <= 15.0


def test_long_clip_is_cut_at_pauses_with_matching_text(prepared_awkward, awkward_list) -> None:
    facts = json.loads((awkward_list.parent / "awkward.json").read_text())["long_story"]
    clips = [c for c in _manifest(prepared_awkward.out) if c["id"].startswith("ben_long_story")]
    assert len(clips) >= 2
    # each cut removes the pause beyond the kept 2 x 250 ms; nothing else is lost
    expected = facts["seconds"] - (len(clips) - 1) * (facts["gap_sec"] - 0.5)
    total = sum(c["duration_sec"] for c in clips)
    assert abs(total - expected) / expected < 0.02
    original = next(
        line.split("|")[3] for line in awkward_list.read_text().splitlines() if "long_story" in line
    )
    assert " ".join(c["text"] for c in clips) == original
    for clip in clips:  # every clip holds whole sentences, in order
        assert clip["text"].endswith(".") and clip["text"][0].isupper()


def test_smaller_max_sec_gives_more_clips_all_within_it(tmp_path, awkward_list) -> None:
    cfg = load_config(overrides=["data.max_sec=6"])
    result = prepare_dataset(awkward_list, tmp_path / "out", cfg)
    clips = _manifest(result.out)
    story = [c for c in clips if "long_story" in c["id"]]
    assert len(story) >= 5
    assert max(c["duration_sec"] for c in clips) <= 6.0


def test_edge_silence_is_trimmed(prepared_awkward, awkward_list) -> None:
    facts = json.loads((awkward_list.parent / "awkward.json").read_text())["edge_silence"]
    clip = next(c for c in _manifest(prepared_awkward.out) if c["id"] == "ava_edge_silence")
    assert clip["duration_sec"] < facts["speech_sec"] + 0.5 + 0.05
    assert clip["duration_sec"] > facts["speech_sec"] - 0.2
    assert clip["source_span_sec"][0] == pytest.approx(facts["edge_sec"] - 0.25, abs=0.1)


def _write_bad_corpus(corpus: Path) -> Path:
    wavs = corpus / "wavs"
    (wavs / "corrupt.wav").write_bytes(b"RIFF1234WAVEfmt nonsense")
    sf.write(wavs / "silent.wav", np.zeros(32000, dtype=np.float32), 32000)
    lines = [
        "wavs/ava_en_00.flac|ava|en|The weather is lovely today.",
        "wavs/missing.flac|ava|en|This file does not exist.",
        "wavs/corrupt.wav|ava|en|This file is corrupt.",
        "wavs/silent.wav|ava|en|This file is silent.",
        "wavs/ava_en_01.flac|ava|en|",
        "wavs/ava_zh_00.flac|ava|xx|今天天气很好。",
        "a line without any separators",
        "wavs/ben_zh_00.flac|ben|ZH|我们一起去公园散步吧。",
    ]
    path = corpus / "bad.list"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_inputs_are_skipped_with_file_line_and_reason(tmp_path, corpus_copy) -> None:
    bad_list = _write_bad_corpus(corpus_copy)
    result = prepare_dataset(bad_list, tmp_path / "out", load_config())
    assert result.clips == 2
    skipped = {s["origin"].rsplit(":", 1)[1]: s["reason"] for s in result.report["skipped"]}
    assert "not found" in skipped["2"]
    assert "cannot decode" in skipped["3"]
    assert "silent" in skipped["4"]
    assert "empty transcript" in skipped["5"]
    assert "unknown language 'xx'" in skipped["6"]
    assert "4 fields" in skipped["7"]
    assert all(s["origin"].startswith(str(bad_list)) for s in result.report["skipped"])
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(on_disk["skipped"]) == 6


def _run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leanvoice", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_exit_codes_and_one_line_errors(tmp_path, corpus_copy) -> None:
    bad_list = _write_bad_corpus(corpus_copy)
    ok = _run_cli("prepare", str(bad_list), str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stderr
    assert "skipped" in ok.stdout
    # not a terminal: progress as lines, up to every item that could be read
    assert re.search(r"^prepared (\d+)/\1 items$", ok.stdout, re.MULTILINE)

    only_bad = corpus_copy / "only_bad.list"
    only_bad.write_text("wavs/missing.flac|ava|en|Nothing here.\n")
    none = _run_cli("prepare", str(only_bad), str(tmp_path / "none"))
    assert none.returncode == 1 and "no usable clips" in none.stderr

    missing = _run_cli("prepare", str(tmp_path / "nowhere"), str(tmp_path / "x"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr

    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    clash = _run_cli("prepare", str(bad_list), str(a_file))
    assert clash.returncode == 2 and "is a file" in clash.stderr

    typo = _run_cli("prepare", str(bad_list), str(tmp_path / "t"), "data.max_secs=3")
    assert typo.returncode == 2 and "max_secs" in typo.stderr and "max_sec" in typo.stderr


def test_rerun_does_nothing_and_keeps_the_manifest(tmp_path, awkward_list) -> None:
    out = tmp_path / "out"
    first = prepare_dataset(awkward_list, out, load_config())
    before = (out / "manifest.jsonl").read_bytes()
    second = prepare_dataset(awkward_list, out, load_config())
    assert first.processed_now == 3 and second.processed_now == 0
    assert (out / "manifest.jsonl").read_bytes() == before


def test_changed_settings_reprocess(tmp_path, awkward_list) -> None:
    out = tmp_path / "out"
    prepare_dataset(awkward_list, out, load_config())
    again = prepare_dataset(awkward_list, out, load_config(overrides=["data.max_sec=8"]))
    assert again.processed_now == 3


def test_killed_prepare_resumes_to_the_same_manifest(tmp_path, demo_list) -> None:
    reference = prepare_dataset(demo_list, tmp_path / "reference", load_config())
    out = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "leanvoice", "prepare", str(demo_list), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = list((out / RECORDS_DIR).glob("*.json")) if (out / RECORDS_DIR).is_dir() else []
        if len(records) >= 3:
            break
        time.sleep(0.005)
    process.kill()
    process.wait()
    done = len(list((out / RECORDS_DIR).glob("*.json")))
    assert 3 <= done < 40, "the run was not interrupted mid-way"
    assert not (out / "manifest.jsonl").exists()

    resumed = prepare_dataset(demo_list, out, load_config())
    assert resumed.processed_now == 40 - done
    assert (out / "manifest.jsonl").read_bytes() == (reference.out / "manifest.jsonl").read_bytes()
    for clip in _manifest(out):
        assert (out / clip["wav"]).read_bytes() == (reference.out / clip["wav"]).read_bytes()


def test_worker_processes_give_the_same_result(tmp_path, corpus_copy, awkward_list) -> None:
    one = prepare_dataset(awkward_list, tmp_path / "one", load_config())
    two = prepare_dataset(
        awkward_list, tmp_path / "two", load_config(overrides=["prepare.workers=2"])
    )
    assert (one.out / "manifest.jsonl").read_bytes() == (two.out / "manifest.jsonl").read_bytes()
    shutil.rmtree(tmp_path / "one")


def test_truncated_wav_and_mismatched_text_are_skipped_with_reasons(tmp_path, corpus_copy):
    """A WAV cut to half of what its header says, and 2000 characters of text for a short
    clip: both would train on audio that does not match its text."""
    lines = (corpus_copy / "demo.list").read_text(encoding="utf-8").splitlines()
    first, second, third = (line.split("|") for line in lines[:3])
    samples, rate = sf.read(corpus_copy / first[0], dtype="float32")
    wav = corpus_copy / "cut.wav"
    sf.write(wav, samples, rate, subtype="PCM_16")
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) - (len(data) - 44) // 2])  # half the samples gone
    first[0] = "cut.wav"
    second[2] = "en"
    second[3] = " ".join(["This sentence is far too long for the clip it belongs to."] * 35)
    listing = corpus_copy / "checks.list"
    listing.write_text("\n".join("|".join(x) for x in (first, second, third)) + "\n")
    result = prepare_dataset(listing, tmp_path / "out", load_config())
    assert result.clips == 1
    reasons = {s["origin"].rsplit(":", 1)[1]: s["reason"] for s in result.report["skipped"]}
    declared = len(samples) / rate
    assert f"truncated: the WAV header declares {declared:.2f} s" in reasons["1"]
    assert f"holds {declared / 2:.1f}" in reasons["1"]
    assert "phonemes in" in reasons["2"] and "does not match" in reasons["2"]


def test_an_unwritable_out_is_one_line(demo_list) -> None:
    out = Path("/sys/leanvoice-prepare-out")  # sysfs: no folder can be created there
    result = _run_cli("prepare", str(demo_list), str(out))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{out}: cannot write there" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
