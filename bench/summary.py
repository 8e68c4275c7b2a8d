"""The goals of the benchmarks against what the last runs measured: a table that says met
or missed for each, and a PNG of the ratios beside their goals.

    python -m bench.summary     # reads docs/bench-results/*.json, run the benches first

Every figure comes from the JSON the benchmarks wrote; nothing is typed in here but the
goals themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.doc import DOC, read_results, write_section

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


def _memory_goals(stage: str, limit: float) -> list[Goal]:
    found = read_results(f"memory-{stage}")
    if found is None:
        return []
    cases, name = found["cases"], "GPT" if stage == "gpt" else "SoVITS"
    base, small = cases["official recipe (baseline)"], cases["preset small"]
    return [
        Goal(f"{name} peak memory, preset small", small["peak"] / base["peak"], limit, True),
        Goal(
            f"{name} step time at equal batch, preset small",
            small["seconds"] / base["seconds"],
            1.25,
            True,
        ),
    ]


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


def goals() -> list[Goal]:
    return [
        *_memory_goals("gpt", 0.35),
        *_memory_goals("sovits", 0.5),
        *_throughput_goals(),
        *_padding_goals(),
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
