import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from leanvoice.config import load_config
from leanvoice.errors import ConfigError
from leanvoice.plan.output import plan_plot, plan_table
from leanvoice.plan.planner import (
    Candidate,
    calibrate,
    card_bytes,
    choose,
    clip_cost,
    epoch_batches,
    make_plan,
    measured_peak,
    parse_size,
    tokens_per_second,
    worst_case_clip,
    write_worst_case_clip,
)


def test_sizes_and_cards() -> None:
    assert parse_size("64MB") == 64 * 2**20
    assert parse_size("6GB") == parse_size("6g") == parse_size("6GiB") == 6 * 2**30
    assert card_bytes("RTX 4090") == 24 * 2**30
    with pytest.raises(ConfigError, match="size such as"):
        parse_size("lots")
    with pytest.raises(ConfigError, match="unknown card"):
        card_bytes("voodoo-2")


@pytest.mark.parametrize(
    ("stage", "preset"),
    [
        ("gpt", None),
        ("gpt", "small"),
        ("sovits", None),
        ("sovits", "small"),
    ],
)
def test_predicted_peak_is_within_10_percent_at_unseen_batch_sizes(stage, preset) -> None:
    cfg = load_config(
        preset, overrides=["model.size=tiny", "memory.precision=fp32", "data.max_sec=8"]
    )
    candidate = Candidate(cfg.memory.checkpoint, cfg.memory.optimizer)
    with tempfile.TemporaryDirectory() as tmp:
        write_worst_case_clip(Path(tmp), cfg, worst_case_clip(stage, cfg, None))
        line = calibrate(stage, cfg, Path(tmp), candidate, "cpu")  # measured at 1 and 3
        for samples in (2, 5, 7):
            measured = measured_peak(stage, cfg, Path(tmp), samples, "cpu")
            predicted = line.peak(samples)
            print(f"{stage} {preset} n={samples}: predicted {predicted} measured {measured}")
            assert abs(predicted - measured) <= 0.10 * measured


def test_plan_fits_a_budget_and_its_overrides_are_accepted(tmp_path) -> None:
    cfg = load_config(overrides=["model.size=tiny", "memory.precision=fp32", "data.max_sec=8"])
    plan = make_plan(
        "gpt", cfg, 64 * 2**20, candidates=[Candidate("none", "adamw"), Candidate("all", "adamw")]
    )
    result = plan.as_json()
    assert result["fits"] and result["predicted_peak_bytes"] <= plan.usable_bytes
    assert set(result["breakdown"]) == {
        "parameters_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "activations_bytes",
    }
    tuned = load_config(overrides=["model.size=tiny", *result["overrides"]])
    assert tuned.data.max_tokens == plan.clips * plan.clip_cost
    from rich.console import Console

    console = Console(record=True, width=80)
    console.print(plan_table(plan))
    text = console.export_text()
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    rows = [line for line in text.splitlines() if "adamw" in line]
    assert len(rows) == 2 and sum("chosen" in row for row in rows) == 1
    chosen_row = next(row for row in rows if "chosen" in row)
    assert plan.chosen.candidate.checkpoint in chosen_row
    assert str(plan.clips * plan.clip_cost) in chosen_row
    png = plan_plot(plan, tmp_path / "plan.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_budget_nothing_fits_says_what_is_missing() -> None:
    cfg = load_config(overrides=["model.size=tiny", "memory.precision=fp32", "data.max_sec=8"])
    plan = make_plan("gpt", cfg, 2**20, candidates=[Candidate("all", "adamw8bit")])
    assert plan.chosen is None and not plan.as_json()["fits"]
    assert "needs" in plan.shortfall() and "even with" in plan.shortfall()


def _tiny_gpt_lines(candidates: list[Candidate]) -> tuple[list, int]:
    """Calibrated lines of the tiny GPT (each candidate measured in turn, in this
    process) and the worst-case clip's cost in tokens."""
    cfg = load_config(overrides=["model.size=tiny", "memory.precision=fp32", "data.max_sec=6"])
    clip = worst_case_clip("gpt", cfg, None)
    with tempfile.TemporaryDirectory() as tmp:
        write_worst_case_clip(Path(tmp), cfg, clip)
        lines = [calibrate("gpt", cfg, Path(tmp), c, "cpu") for c in candidates]
    return lines, clip["phonemes"] + clip["codes"]


def _bytes_of(line) -> tuple:
    return (line.intercept, line.slope, line.step_peak, sorted(line.states.items()))


def test_each_calibration_is_isolated_from_the_candidates_before_it() -> None:
    """A candidate measured after others gives the line it gives when measured alone:
    nothing an earlier trainer left behind is counted."""
    together, _ = _tiny_gpt_lines([Candidate("none", "adamw"), Candidate("all", "adamw8bit")])
    (alone,), _ = _tiny_gpt_lines([Candidate("all", "adamw8bit")])
    assert _bytes_of(together[1]) == _bytes_of(alone)
    assert _bytes_of(together[0]) != _bytes_of(alone)  # the two settings differ at all


def test_the_ranking_follows_measured_step_times() -> None:
    lines, cost = _tiny_gpt_lines([Candidate("none", "adamw"), Candidate("all", "adamw")])
    budget = int(1.5 * max(line.peak(4) for line in lines))  # both fit several clips
    best, samples = choose(lines, budget, cost)
    speeds = [tokens_per_second(x, x.largest_batch(budget), cost) for x in lines]
    assert best is lines[speeds.index(max(speeds))] and samples == best.largest_batch(budget)
    # make the other setting's measured steps ten times faster: the ranking follows
    other = lines[1 - lines.index(best)]
    faster = replace(
        other,
        seconds_intercept=other.seconds_intercept / 10,
        seconds_slope=other.seconds_slope / 10,
    )
    swapped = [faster if x is other else x for x in lines]
    assert choose(swapped, budget, cost)[0] is faster


def test_auto_takes_8bit_states_only_when_full_precision_does_not_fit() -> None:
    full, eight = _tiny_gpt_lines([Candidate("all", "adamw"), Candidate("all", "adamw8bit")])[0]
    cost = 1
    assert eight.peak(1) < full.peak(1)  # 8-bit states are smaller
    quick = replace(eight, seconds_intercept=1e-6, seconds_slope=1e-9)  # and say faster
    roomy = int(2 * full.peak(4))
    assert choose([full, quick], roomy, cost)[0] is quick  # ranked by speed alone
    assert choose([full, quick], roomy, cost, prefer_full_precision=True)[0] is full
    tight = (full.peak(1) + eight.peak(1)) // 2  # only the 8-bit states fit one clip
    assert eight.largest_batch(tight) >= 1 > full.largest_batch(tight)
    assert choose([full, eight], tight, cost, prefer_full_precision=True)[0] is eight
    assert choose([full, eight], eight.peak(1) - 1, cost, True) == (None, 0)


def _plan_cli(*extra: str, cwd=None) -> subprocess.CompletedProcess:
    """`leanvoice plan` for the tiny GPT and a 64 MB budget, in a real process."""
    command = [
        sys.executable,
        "-m",
        "leanvoice",
        "plan",
        "--stage",
        "gpt",
        "--size",
        "tiny",
        "--vram",
        "64MB",
        *extra,
        "memory.precision=fp32",
        "data.max_sec=6",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_cli_plan_json(tmp_path) -> None:
    run = _plan_cli("--json", "--plot", str(tmp_path / "p.png"))
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["fits"] and any(o.startswith("data.max_tokens=") for o in result["overrides"])
    assert (tmp_path / "p.png").is_file()


def test_sovits_plan_caps_clips_so_short_clips_stay_within_the_prediction(tmp_path) -> None:
    """The SoVITS decoder costs the same per clip whatever its length: a batch of short
    clips packed to the frames budget alone would far outgrow the plan (measured ~3×);
    the clip cap the plan adds keeps every batch under the predicted peak."""
    base = ["model.size=tiny", "memory.precision=fp32", "data.max_sec=6"]
    cfg = load_config(overrides=base)
    plan = make_plan("sovits", cfg, 160 * 2**20, candidates=[Candidate("all", "adamw")])
    tuned = load_config(overrides=[*base, *plan.overrides()])  # measured as the plan runs
    assert tuned.data.max_clips == plan.clips >= 1
    short = {"phonemes": 12, "codes": 25, "frames": 50}  # one second
    write_worst_case_clip(tmp_path, cfg, short)
    clips = min(tuned.data.max_clips, tuned.data.max_frames // short["frames"])
    predicted = plan.chosen.peak(plan.clips)
    assert measured_peak("sovits", tuned, tmp_path, clips, "cpu") <= predicted
    uncapped = tuned.data.max_frames // short["frames"]
    assert measured_peak("sovits", tuned, tmp_path, uncapped, "cpu") > 1.5 * predicted


def test_plan_with_data_predicts_the_trained_runs_peak(featured_demo, tmp_path) -> None:
    """With --data the plan measures the chosen setting on the largest batch the sampler
    will form on that data; a run with the plan's overrides peaks within 15 % of it
    (the worst case of N copies of the longest clip overpredicted it by ~2× here)."""
    from leanvoice.train import train_stage

    base = ["model.size=tiny", "memory.precision=fp32", "train.audition_every=0"]
    cfg = load_config(overrides=base)
    plan = make_plan(
        "gpt",
        cfg,
        64 * 2**20,
        data=featured_demo,
        candidates=[Candidate("none", "adamw"), Candidate("all", "adamw")],
    )
    result = plan.as_json()
    assert result["fits"] and result["predicted_peak_bytes"] <= result["worst_case_peak_bytes"]
    tuned = load_config(overrides=[*base, *result["overrides"], "train.save_every=0"])
    budget, clips = tuned.data.max_tokens, tuned.data.max_clips
    epoch = len(epoch_batches("gpt", tuned, featured_demo, budget, clips)[0])  # each met once
    tuned = load_config(overrides=[*base, *result["overrides"], f"train.max_steps={epoch}"])
    summary = train_stage("gpt", featured_demo, tmp_path / "run", tuned)
    measured = summary["memory"]["peak_bytes"]
    print(f"predicted {result['predicted_peak_bytes']} measured {measured}")
    assert abs(result["predicted_peak_bytes"] - measured) <= 0.15 * measured


def test_cli_plan_shows_its_progress_and_a_table_that_fits_80_columns(tmp_path) -> None:
    run = _plan_cli(cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert [line for line in lines if line.startswith("measured ")][-1].startswith("measured 6/6")
    assert "chosen" in run.stdout and "fits with these overrides:" in run.stdout
    assert lines[-1].startswith("memory.checkpoint=") and "data.max_tokens=" in lines[-1]
    assert all(len(line) <= 80 for line in lines)
    assert not list(tmp_path.iterdir())  # no plan.png unless --plot says where


@pytest.mark.parametrize(("version", "per_frame"), [("v4", 2.0), ("v3", 1.875), ("v2", 1)])
def test_the_plan_costs_a_clip_as_the_trainer_does(tmp_path, version, per_frame) -> None:
    """The worst-case clip's cost (the plan's `data.max_frames` = N × it) is what the
    stage's sampler counts for that clip: v3/v4 mel frames, v2 50 Hz frames."""
    from leanvoice.train import trainer_class

    cfg = load_config(overrides=["model.size=tiny", f"model.version={version}", "data.max_sec=3"])
    clip = worst_case_clip("sovits", cfg, None)
    write_worst_case_clip(tmp_path, cfg, clip)
    trainer = trainer_class("sovits", cfg)(cfg, tmp_path, tmp_path / "run")
    assert trainer.load_clips(tmp_path).lengths == [clip_cost("sovits", cfg, clip)]
    assert clip_cost("sovits", cfg, clip) == int(clip["frames"] * per_frame)


@pytest.mark.parametrize("version", ["v4", "v5dev"])
def test_a_flow_matching_plan_sets_data_max_frames_in_mel_frames(version: str) -> None:
    base = ["model.size=tiny", f"model.version={version}", "memory.precision=fp32"]
    base.append("data.max_sec=3")
    cfg = load_config(overrides=base)
    plan = make_plan("sovits", cfg, 256 * 2**20, candidates=[Candidate("none", "adamw")])
    frames = worst_case_clip("sovits", cfg, None)["frames"]  # 50 Hz
    assert plan.chosen is not None and plan.clip_cost == 2 * frames
    tuned = load_config(overrides=[*base, *plan.overrides()])
    assert tuned.data.max_frames == plan.clips * 2 * frames
    # the DiT's memory follows frames alone: no clip cap (the VITS decoder's reason)
    assert not any(o.startswith("data.max_clips") for o in plan.overrides())
