"""The goals of the benchmarks against what the last runs measured: a table that says met
or missed for each, and a PNG of the ratios beside their goals.

    python -m bench.summary     # reads docs/bench-results/*.json, run the benches first

Every figure comes from the JSON the benchmarks wrote; nothing is typed in here but the
goals themselves.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.doc import DOC, read_results, results_dir, write_section

PLOT = DOC.parent / "benchmarks.png"


@dataclass(frozen=True)
class Goal:
    what: str
    measured: float
    limit: float
    at_most: bool  # True: the ratio must stay at or below the limit

    @property
    def met(self) -> bool:
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit


PRO_STAGES = ("sovits-v2Pro", "sovits-v2ProPlus")  # bench.memory's SoVITS Pro versions


def _stage_name(stage: str) -> str:
    """gpt → GPT, sovits → SoVITS, sovits-v2Pro → SoVITS v2Pro."""
    model, _, version = stage.partition("-")
    return ("GPT" if model == "gpt" else "SoVITS") + (f" {version}" if version else "")


def _memory_goals(stage: str, limit: float) -> list[Goal]:
    """The small preset's peak (and step time, where the run timed steps); for the Pro
    versions also the leanest preset row, when it is another one."""
    found = read_results(f"memory-{stage}")
    if found is None:
        return []
    cases, name = found["cases"], _stage_name(stage)
    base, small = cases["official recipe (baseline)"], cases["preset small"]
    goals = [Goal(f"{name} peak memory, preset small", small["peak"] / base["peak"], limit, True)]
    if stage in PRO_STAGES:
        presets = {case: r for case, r in cases.items() if case.startswith("preset ")}
        leanest = min(presets, key=lambda case: presets[case]["peak"])
        if leanest != "preset small":
            ratio = presets[leanest]["peak"] / base["peak"]
            goals.append(Goal(f"{name} peak memory, {leanest}", ratio, limit, True))
    if "seconds" in small and "seconds" in base:
        goals.append(
            Goal(
                f"{name} step time at equal batch, preset small",
                small["seconds"] / base["seconds"],
                1.25,
                True,
            )
        )
    return goals


def _throughput_goals() -> list[Goal]:
    found = read_results("throughput")
    goals = []
    for stage, name in (("gpt", "GPT"), ("sovits", "SoVITS")):
        if found is None or stage not in found:
            continue
        cases = found[stage]["cases"]
        base = cases["official settings"]["per_second"]
        for case in ("LeanVoice small preset", "LeanVoice checkpoint all, AdamW"):
            unit = "tokens" if stage == "gpt" else "frames"
            goals.append(
                Goal(
                    f"{name} useful {unit}/s at equal memory, {case[10:]}",
                    cases[case]["per_second"] / base,
                    1.3,
                    False,
                )
            )
    return goals


def _padding_goals() -> list[Goal]:
    found = read_results("padding")
    if found is None:
        return []
    return [
        Goal(f"padding efficiency, {name}", f["leanvoice"], 0.95, False)
        for name, f in found.items()
    ]


GPU_PEAK_LIMITS = {"gpt": 0.15, "sovits": 0.4}  # of the official recipe's peak
PRO_PEAK_LIMIT = 0.4  # v2Pro/v2ProPlus (issue #28): as v2's GPU target, at equal batch
GPU_EQUAL_MEMORY_LIMIT = 1.5  # useful tokens/s at equal memory, against the official recipe
GPU_STEP_LIMIT = 1.0  # step time at equal batch, default preset compiled
GPU_PLANNER_LIMIT = 0.10  # planner error against the run it plans


def _gpu_goals(folder: Path | None = None) -> list[Goal]:
    """The brief's GPU targets from each `leanvoice bench gpu` results file (CPU tries of
    the command are left out). Against "the official recipe": the official attention row
    for the GPT (what the official code needs), the official settings for SoVITS."""
    from bench.gpu import OFFICIAL, OFFICIAL_ATTENTION, equal_memory

    folder = folder or results_dir()
    goals = []
    for path in sorted(folder.glob("gpu-*.json")):
        found = read_results(path.stem, folder)
        if found.get("device_argument", "cuda") == "cpu":
            continue
        device = found["device"]
        for stage in ("gpt", "sovits", *PRO_STAGES):
            steps, name = found.get(f"steps_{stage}"), _stage_name(stage)
            if not steps:
                continue
            official = steps[OFFICIAL_ATTENTION if OFFICIAL_ATTENTION in steps else OFFICIAL]
            goals += _gpu_step_goals(stage, name, device, steps, official)
            for mib in found["budgets_mib"]:
                mine = equal_memory(steps["preset small"], int(mib * 2**20), stage)
                theirs = equal_memory(official, int(mib * 2**20), stage)
                if mine and theirs:
                    unit = "tokens" if stage == "gpt" else "frames"
                    goals.append(
                        Goal(
                            f"{name} useful {unit}/s at equal memory, {mib / 1024:g} GiB, "
                            f"preset small, {device}",
                            mine["per_second"] / theirs["per_second"],
                            GPU_EQUAL_MEMORY_LIMIT,
                            False,
                        )
                    )
        for stage, rows in found.get("planner", {}).items():
            errors = [
                abs(r["plan"]["predicted_peak_bytes"] - r["trained_peak_bytes"])
                / r["trained_peak_bytes"]
                for r in rows
                if "trained_peak_bytes" in r
            ]
            if errors:
                what = f"{'GPT' if stage == 'gpt' else 'SoVITS'} planner error (largest), {device}"
                goals.append(Goal(what, max(errors), GPU_PLANNER_LIMIT, True))
    return goals


def _gpu_step_goals(stage, name, device, steps, official) -> list[Goal]:
    """Peak of the leanest preset at the largest batch both ran, and the compiled default
    preset's step time at equal batch (median over the batches both ran)."""
    base = {r["batch"]: r for r in official if "peak" in r}
    goals = []
    presets = {case: rows for case, rows in steps.items() if case.startswith("preset ")}
    leanest = None
    for case, rows in presets.items():
        common = [r for r in rows if "peak" in r and r["batch"] in base]
        if common:
            row = max(common, key=lambda r: r["batch"])
            ratio = row["peak"] / base[row["batch"]]["peak"]
            if leanest is None or ratio < leanest[0]:
                leanest = (ratio, case, row["batch"])
    if leanest is not None:
        ratio, case, batch = leanest
        what = f"{name} peak memory at batch {batch}, {case}, {device}"
        goals.append(Goal(what, ratio, GPU_PEAK_LIMITS[stage.partition("-")[0]], True))
    compiled = steps.get("preset small, compiled")
    if compiled:
        ratios = [
            r["seconds"] / base[r["batch"]]["seconds"]
            for r in compiled
            if "seconds" in r and r["batch"] in base
        ]
        if ratios:
            median = statistics.median(ratios)
            what = f"{name} step time at equal batch, preset small compiled, {device}"
            goals.append(Goal(what, median, GPU_STEP_LIMIT, True))
    return goals


def goals() -> list[Goal]:
    return [
        *_memory_goals("gpt", 0.35),
        *_memory_goals("sovits", 0.5),
        *(goal for stage in PRO_STAGES for goal in _memory_goals(stage, PRO_PEAK_LIMIT)),
        *_throughput_goals(),
        *_padding_goals(),
        *_gpu_goals(),
    ]


def render(found: list[Goal]) -> str:
    lines = ["| goal | measured | target | |", "|---|---|---|---|"]
    for goal in found:
        sign = "≤" if goal.at_most else "≥"
        lines.append(
            f"| {goal.what} | {goal.measured:.2f} | {sign} {goal.limit:g} | "
            f"{'met' if goal.met else '**missed**'} |"
        )
    return "\n".join(lines)


def plot(found: list[Goal], path: Path) -> Path:
    """Horizontal bars of the measured ratios, a tick at each goal, green where met."""
    from leanvoice.figures import COLOURS, new_figure, save_png

    figure, axes = new_figure(9.0, 0.9 + 0.32 * len(found))
    rows = list(range(len(found)))[::-1]  # the first goal on top
    colours = [COLOURS[2] if goal.met else COLOURS[3] for goal in found]
    bars = axes.barh(rows, [goal.measured for goal in found], color=colours, height=0.6)
    axes.bar_label(bars, labels=[f"{goal.measured:.2f}" for goal in found], padding=3, fontsize=8)
    axes.scatter(
        [goal.limit for goal in found], rows, marker="|", s=300, color="black", label="goal"
    )
    axes.set_yticks(rows, [goal.what[:70] for goal in found], fontsize=8)
    axes.set_xlabel("ratio to the official settings (bar: measured, tick: goal)")
    axes.set_title("LeanVoice benchmark goals: green met, red missed")
    return save_png(figure, path)


def main() -> None:
    found = goals()
    if not found:
        raise SystemExit("no benchmark results yet: run `leanvoice bench all` first")
    table = render(found)
    print(table)
    write_section("goals", table)
    print(f"plot: {plot(found, PLOT)}")


if __name__ == "__main__":
    main()
