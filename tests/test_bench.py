"""The benchmark summary's goal checks and the repeatability comparison, on results
files written here (the benchmarks themselves run by `leanvoice bench`), and the GPU
session's command run tiny on a CPU."""

import json
import os
import subprocess
import sys

import pytest

from bench import summary
from bench.repeat import ratios


def _results(folder, memory_peak: float, per_second: float) -> None:
    base = {"peak": 100.0, "seconds": 1.0}
    for stage in ("gpt", "sovits"):
        cases = {
            "official recipe (baseline)": base,
            "preset small": {"peak": memory_peak, "seconds": 1.1},
        }
        (folder / f"memory-{stage}.json").write_text(json.dumps({"cases": cases}))
    throughput = {
        stage: {
            "cases": {
                "official settings": {"per_second": 100.0, "fitting_clips": 4},
                "LeanVoice small preset": {"per_second": per_second, "fitting_clips": 11},
                "LeanVoice checkpoint all, AdamW": {"per_second": 140.0, "fitting_clips": 11},
            }
        }
        for stage in ("gpt", "sovits")
    }
    (folder / "throughput.json").write_text(json.dumps(throughput))
    (folder / "padding.json").write_text(json.dumps({"demo": {"leanvoice": 0.9}}))


def test_goals_say_met_or_missed_and_the_plot_is_drawn(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LEANVOICE_BENCH_RESULTS", str(tmp_path))
    _results(tmp_path, memory_peak=40.0, per_second=90.0)
    goals = {g.what: g for g in summary.goals()}
    assert goals["GPT peak memory, preset small"].met is False  # 0.40 > 0.35
    assert goals["SoVITS peak memory, preset small"].met is True  # 0.40 <= 0.5
    assert goals["GPT step time at equal batch, preset small"].met is True
    assert goals["GPT useful tokens/s at equal memory, small preset"].met is False
    assert goals["SoVITS useful frames/s at equal memory, checkpoint all, AdamW"].met
    assert goals["padding efficiency, demo"].met is False
    table = summary.render(list(goals.values()))
    assert table.count("**missed**") == 4 and "| 0.40 | ≤ 0.35 |" in table
    png = summary.plot(list(goals.values()), tmp_path / "goals.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _gpu_rows(peaks: dict[int, float], seconds: dict[int, float]) -> list[dict]:
    return [{"batch": n, "peak": peaks[n], "seconds": seconds[n]} for n in peaks]


def test_gpu_goals_come_from_the_bench_gpu_results_of_a_gpu_only(tmp_path) -> None:
    official = _gpu_rows({8: 1000.0, 32: 4000.0}, {8: 0.05, 32: 0.05})
    steps = {
        "official settings": _gpu_rows({8: 800.0, 32: 3000.0}, {8: 0.04, 32: 0.04}),
        "official settings, official attention": official,
        "preset timbre": _gpu_rows({8: 300.0, 32: 500.0}, {8: 0.1, 32: 0.1}),  # 0.125 at 32
        "preset small": _gpu_rows({8: 400.0, 32: 700.0}, {8: 0.1, 32: 0.1}),
        "preset small, compiled": _gpu_rows({8: 400.0, 32: 700.0}, {8: 0.04, 32: 0.06}),
    }
    planned = [
        {"plan": {"predicted_peak_bytes": 105.0}, "trained_peak_bytes": 100.0},
        {"plan": {"predicted_peak_bytes": 88.0}, "trained_peak_bytes": 100.0},
    ]
    results = {
        "device": "NVIDIA H200",
        "device_argument": "cuda",
        "budgets_mib": [4000 / 2**20 / 0.9 * 1.01],  # official fits batch 32 only just
        "steps_gpt": steps,
        "planner": {"gpt": planned},
    }
    (tmp_path / "gpu-nvidia-h200.json").write_text(json.dumps(results))
    cpu_try = {**results, "device": "x86_64 CPU", "device_argument": "cpu"}
    (tmp_path / "gpu-x86-64-cpu.json").write_text(json.dumps(cpu_try))
    goals = {g.what: g for g in summary._gpu_goals(tmp_path)}
    assert len(goals) == 4 and all("NVIDIA H200" in what for what in goals)
    peak = goals["GPT peak memory at batch 32, preset timbre, NVIDIA H200"]
    assert peak.measured == pytest.approx(0.125) and peak.met
    step = goals["GPT step time at equal batch, preset small compiled, NVIDIA H200"]
    assert step.measured == pytest.approx(1.0) and step.met  # median of 0.8 and 1.2
    (speed,) = [g for what, g in goals.items() if "equal memory" in what]
    # both fit batch 32 and the preset's step takes twice as long: 0.5×, the goal missed
    assert speed.measured == pytest.approx(0.05 / 0.1) and not speed.met
    planner = goals["GPT planner error (largest), NVIDIA H200"]
    assert planner.measured == pytest.approx(0.12) and not planner.met


def test_repeat_compares_every_ratio_of_two_runs(tmp_path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    _results(first, memory_peak=40.0, per_second=90.0)
    _results(second, memory_peak=40.0, per_second=99.0)
    pairs = list(
        zip(
            ratios("throughput", json.loads((first / "throughput.json").read_text())),
            ratios("throughput", json.loads((second / "throughput.json").read_text())),
            strict=True,
        )
    )
    worst = max(abs(x[1] - y[1]) / x[1] for x, y in pairs)
    assert worst == pytest.approx(0.1)


def test_a_case_in_its_own_process_returns_what_it_returns_in_this_one() -> None:
    from bench.isolate import run_case
    from bench.padding import measure

    lengths = [(i * 37) % 101 + 20 for i in range(120)]
    assert run_case("bench.padding", "measure", lengths) == pytest.approx(measure(lengths))


def test_throughput_takes_each_steps_fastest_round_and_refuses_different_batches() -> None:
    from bench.throughput import combine

    def round_(cpu: list[float], real: tuple[int, ...] = (100, 300)) -> dict:
        return {
            "batch": "b",
            "steps": [[r, c] for r, c in zip(real, cpu, strict=True)],
            "wall_per_second": 1.0,
            "padding_efficiency": 0.9,
            "peak_bytes": 1,
            "final_loss": 2.0,
        }

    fit = {"fitting_clips": 4, "predicted_clips": 4, "clip_cost": 10}
    slow_first, slow_second = round_([2.0, 1.0]), round_([1.0, 3.0])
    result = combine(fit, [slow_first, slow_second])
    assert result["per_second"] == pytest.approx(400 / 2.0)  # 1.0 + 1.0: the fastest of each
    assert result["per_second_rounds"] == pytest.approx([400 / 3.0, 400 / 4.0])
    with pytest.raises(RuntimeError, match="different batches"):
        combine(fit, [slow_first, round_([1.0, 1.0], real=(100, 200))])


def test_throughput_refuses_a_v2_run_without_a_dataset_and_a_folder_without_manifest(
    tmp_path, capsys
) -> None:
    from bench.throughput import _arguments

    with pytest.raises(SystemExit):
        _arguments(["--size", "v2"])
    assert "--size v2 needs --data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _arguments(["--data", str(tmp_path)])
    assert "no manifest.jsonl" in capsys.readouterr().err
    assert _arguments(["--gpt-steps", "5"]).gpt_steps == 5


def test_bench_gpu_runs_as_it_stands_tiny_on_a_cpu(tmp_path) -> None:
    """`leanvoice bench gpu` is the GPU session's one command; here the same code runs on
    the CPU with the tiny GPT (one budget, no compiled cases), in two calls whose parts
    merge into one results file: every case process, the planner against the run it
    plans, and the tables."""
    env = {
        **os.environ,
        "LEANVOICE_BENCH_PRINT_ONLY": "1",  # the doc is not touched
        "LEANVOICE_BENCH_RESULTS": str(tmp_path),
    }
    command = [sys.executable, "-m", "leanvoice", "bench", "gpu", "--device", "cpu"]
    command += ["--size", "tiny", "--stages", "gpt", "--grid-gpt", "1,2", "--skip-compile"]
    command += ["--budgets-mib", "16", "--planner-budgets-mib", "64"]
    for parts in ("optimizer,steps", "planner"):
        done = subprocess.run(
            [*command, "--parts", parts], capture_output=True, text=True, timeout=900, env=env
        )
        assert done.returncode == 0, done.stderr[-3000:]
    (found,) = tmp_path.glob("gpu-*.json")
    results = json.loads(found.read_text(encoding="utf-8"))
    assert results["optimizer_step"]["torch AdamW"]["seconds"] > 0
    steps = results["steps_gpt"]
    assert {"official settings", "official settings, official attention", "preset small"} <= set(
        steps
    )
    assert all(row["peak"] > 0 and row["seconds"] > 0 for rows in steps.values() for row in rows)
    (planned,) = results["planner"]["gpt"]
    assert planned["plan"]["fits"] and planned["trained_steps"] >= 1
    trained, predicted = planned["trained_peak_bytes"], planned["plan"]["predicted_peak_bytes"]
    assert abs(predicted - trained) <= 0.15 * trained  # the plan predicts the run it plans
    assert set(results["seconds"]) == {"optimizer", "steps", "planner"}
    # the second call's tables hold the first call's parts too
    assert "useful tokens/s at equal" in done.stdout and "| gpt | 64 MiB |" in done.stdout
