"""`leanvoice bench quality`: the held-out comparison runs as it stands (`--quick`), and
its report's rules (ratios per seed, equal-time reading, verdicts) say what they should."""

import json
import math
import os
import subprocess
import sys

from bench.quality import REFERENCE, at_time, summarise, verdict


def test_quick_runs_every_stage_and_case_and_reports_them(tmp_path) -> None:
    env = {
        **os.environ,
        "LEANVOICE_BENCH_PRINT_ONLY": "1",
        "LEANVOICE_BENCH_RESULTS": str(tmp_path),
    }
    command = [sys.executable, "-m", "leanvoice", "bench", "quality", "--quick"]
    done = subprocess.run(
        [*command, "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "quality-quick.json").read_text(encoding="utf-8"))
    assert (tmp_path / "quality-quick.png").stat().st_size > 10_000
    runs = results["runs"]
    assert set(runs) == {"gpt", "sovits"}
    assert set(runs["gpt"]) == {REFERENCE, "bf16 autocast", "LoRA r4"}
    assert set(runs["sovits"]) == {REFERENCE, "bf16 autocast", "LoRA r4", "freeze sovits"}
    for stage, cases in runs.items():
        for name, seeds in cases.items():
            assert set(seeds) == {"0", "1"}, (stage, name)
            for run in seeds.values():
                assert all(math.isfinite(v) for v in run["final"].values())
    # a frozen SoVITS is the base, measured once, untrained
    assert len(runs["sovits"]["freeze sovits"]["0"]["curve"]) == 1
    trained = runs["sovits"][REFERENCE]["0"]["curve"]
    assert [p["step"] for p in trained] == [2, 4] and trained[-1]["seconds"] > 0
    final = runs["sovits"][REFERENCE]["0"]["final"]
    assert 0 <= final["synth_voiced"] <= 1 and 0 <= final["synth_right_speaker"] <= 1
    # LoRA trains other weights than the reference: a result of its own
    base = runs["gpt"][REFERENCE]["0"]["final"]["valid_loss"]
    assert runs["gpt"]["LoRA r4"]["0"]["final"]["valid_loss"] != base
    summary = results["summary"]
    assert summary["gpt"]["cases"][REFERENCE]["valid_loss"]["ratio"] == 1.0
    assert "| case | held-out loss | top-3 acc." in done.stdout
    assert "synthesis mel L1" in done.stdout


def _run(losses: list[float], seconds: list[float]) -> dict:
    curve = [
        {"step": i + 1, "seconds": s, "valid_loss": v}
        for i, (v, s) in enumerate(zip(losses, seconds, strict=True))
    ]
    return {"kind": "", "curve": curve, "final": {"valid_loss": losses[-1], "valid_top3": 0.5}}


def test_ratios_are_per_seed_and_equal_time_reads_both_curves_at_the_shorter_time() -> None:
    reference = {"0": _run([2.0, 1.0], [1.0, 2.0]), "1": _run([2.0, 1.1], [1.0, 2.0])}
    slower = {"0": _run([2.0, 1.0], [2.0, 4.0]), "1": _run([2.0, 1.1], [2.0, 4.0])}
    for runs, kind in ((reference, "reference"), (slower, "exact")):
        for run in runs.values():
            run["kind"] = kind
    summary = summarise({"runs": {"gpt": {REFERENCE: reference, "slower": slower}}})
    row = summary["gpt"]["cases"]["slower"]
    assert row["valid_loss"]["ratio"] == 1.0  # the same end point, per seed
    # at 2 s the slower run is halfway (loss 2.0 then) where the reference is done
    assert row["equal_time_ratio"] == (2.0 / 1.0 + 2.0 / 1.1) / 2
    assert math.isclose(summary["gpt"]["noise"], 0.1 / 1.05)
    assert row["verdict"].startswith("met")
    assert at_time(reference["0"]["curve"], 1.5) == 1.5


def test_verdicts_hold_each_kind_to_its_goal() -> None:
    assert verdict("exact", 1.02, noise=0.03).startswith("met")
    assert verdict("exact", 1.05, noise=0.03).startswith("missed")
    assert verdict("lossy", 1.009, noise=0.0).startswith("met")
    assert verdict("lossy", 1.02, noise=0.5).startswith("missed")  # 1 %, whatever the noise
    assert verdict("preset", 1.019, noise=0.0).startswith("kept")
    assert verdict("preset", 1.05, noise=0.0) == "loses 5.0 % (> 2 %)"
    assert verdict("lora", 1.1, noise=0.0) == "costs +10.0 %"
