"""How a plan is shown: a rich table per candidate, and a PNG of stacked bars against
the budget line (matplotlib, through `leanvoice.figures`)."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from leanvoice.memory.report import format_bytes
from leanvoice.plan.planner import Plan

CATEGORIES = ("parameters_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes")


def _rows(plan: Plan):
    """Each candidate at its largest fitting batch (or one clip when none fits)."""
    for line in plan.lines:
        samples = max(line.largest_batch(plan.usable_bytes), 1)
        yield line, samples, plan.breakdown(line, samples)


def plan_table(plan: Plan) -> Table:
    """One row per setting at its largest fitting batch; fits 80 columns (short
    headers, sizes as 451K / 50.6M, no vertical rules)."""
    unit = "tokens" if plan.stage == "gpt" else "frames"
    table = Table(
        title=f"{plan.stage} memory plan: budget {format_bytes(plan.budget_bytes)}, "
        f"usable {format_bytes(plan.usable_bytes)}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    for column in (
        "ckpt",
        "optimizer",
        unit,
        "params",
        "grads",
        "states",
        "activ.",
        "peak",
        "fits",
    ):
        table.add_column(column, justify="left" if column in ("ckpt", "optimizer") else "right")
    for line, samples, parts in _rows(plan):
        fits = line.peak(samples) <= plan.usable_bytes
        chosen = line is plan.chosen
        table.add_row(
            line.candidate.checkpoint,
            line.candidate.optimizer,
            str(samples * plan.clip_cost),
            *(_short(parts[k]) for k in CATEGORIES),
            _short(line.peak(samples)),
            "chosen" if chosen else ("yes" if fits else "no"),
            style="bold green" if chosen else None,
        )
    return table


def _short(value: float) -> str:
    """Three significant digits: 451K, 50.6M, 1.23G (bytes, powers of 1024)."""
    for unit in ("", "K", "M", "G"):
        if abs(value) < 1000 or unit == "G":
            return f"{value:.3g}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plan_plot(plan: Plan, path: Path) -> Path:
    """Stacked bars (parameters, gradients, optimizer states, activations) of each setting
    at its largest fitting batch, against the budget and the usable part of it; the
    chosen setting is outlined and labelled."""
    from leanvoice.figures import COLOURS, new_figure, save_png

    mib = 2**20  # the axis is in MiB
    rows = list(_rows(plan))
    figure, axes = new_figure(max(6.4, 1.3 * len(rows) + 2), 4.2)
    names = ("parameters", "gradients", "optimizer states", "activations")
    for index, (line, _samples, parts) in enumerate(rows):
        parts = {key: value / mib for key, value in parts.items()}
        base = 0.0
        for key, colour, name in zip(CATEGORIES, COLOURS, names, strict=True):
            axes.bar(
                index,
                parts[key],
                bottom=base,
                color=colour,
                width=0.6,
                label=name if index == 0 else None,
            )
            base += parts[key]
        if line is plan.chosen:
            axes.bar(index, base, width=0.6, fill=False, edgecolor="black", linewidth=2)
            axes.annotate("chosen", (index, base), ha="center", va="bottom", fontweight="bold")
    axes.axhline(plan.budget_bytes / mib, color="#c00000", label="budget")
    axes.axhline(plan.usable_bytes / mib, color="#e69600", linestyle="--", label="usable")
    unit = "tokens" if plan.stage == "gpt" else "frames"
    axes.set_xticks(
        range(len(rows)),
        [
            f"{ln.candidate.checkpoint}\n{ln.candidate.optimizer}\n{n * plan.clip_cost} {unit}"
            for ln, n, _ in rows
        ],
        fontsize=8,
    )
    axes.set_ylabel("peak memory of a training step (MiB)")
    axes.set_xlabel("setting: checkpointing / optimizer / batch budget")
    axes.set_title(
        f"{plan.stage.upper()} memory plan for a {format_bytes(plan.budget_bytes)} budget"
    )
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_png(figure, path)
