"""How a plan is shown: a rich table per candidate, and a PNG of stacked bars against
the budget line (drawn with Pillow, which TensorBoard already brings)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from leanvoice.memory.report import format_bytes
from leanvoice.plan.planner import Plan

CATEGORIES = ("parameters_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes")
COLOURS = ((76, 114, 176), (221, 132, 82), (85, 168, 104), (196, 78, 82))


def _rows(plan: Plan):
    """Each candidate at its largest fitting batch (or one clip when none fits)."""
    for line in plan.lines:
        samples = max(line.largest_batch(plan.usable_bytes), 1)
        yield line, samples, plan.breakdown(line, samples)


def plan_table(plan: Plan) -> Table:
    unit = "tokens" if plan.stage == "gpt" else "frames"
    table = Table(
        title=f"{plan.stage} memory plan: budget {format_bytes(plan.budget_bytes)}, "
        f"usable {format_bytes(plan.usable_bytes)}"
    )
    for column in (
        "checkpoint",
        "optimizer",
        f"batch ({unit})",
        "parameters",
        "gradients",
        "optimizer states",
        "activations",
        "peak",
        "fits",
    ):
        table.add_column(
            column, justify="left" if column in ("checkpoint", "optimizer") else "right"
        )
    for line, samples, parts in _rows(plan):
        total = sum(parts.values()) or 1
        cells = [f"{_short(parts[k])} {100 * parts[k] / total:.0f}%" for k in CATEGORIES]
        fits = line.peak(samples) <= plan.usable_bytes
        chosen = line is plan.chosen
        table.add_row(
            line.candidate.checkpoint,
            line.candidate.optimizer,
            str(samples * plan.clip_cost),
            *cells,
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
    from PIL import Image, ImageDraw

    rows = list(_rows(plan))
    width, height, left, bottom, top = 120 + 110 * len(rows), 420, 70, 60, 30
    top_value = max([plan.budget_bytes] + [line.peak(n) for line, n, _ in rows]) * 1.1
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)

    def y(value: float) -> float:
        return height - bottom - (height - bottom - top) * value / top_value

    for index, (line, samples, parts) in enumerate(rows):
        x0 = left + 20 + index * 110
        base = 0.0
        for key, colour in zip(CATEGORIES, COLOURS, strict=True):
            draw.rectangle([x0, y(base + parts[key]), x0 + 70, y(base)], fill=colour)
            base += parts[key]
        label = (
            f"{line.candidate.checkpoint}\n{line.candidate.optimizer}\n{samples * plan.clip_cost}"
        )
        draw.multiline_text((x0, height - bottom + 5), label, fill="black", spacing=2)
    for value, colour in ((plan.budget_bytes, (200, 0, 0)), (plan.usable_bytes, (230, 150, 0))):
        draw.line([left, y(value), width - 10, y(value)], fill=colour, width=2)
    draw.text(
        (left, y(plan.budget_bytes) - 14),
        f"budget {format_bytes(plan.budget_bytes)}",
        fill=(200, 0, 0),
    )
    draw.line([left, top, left, height - bottom], fill="black")
    for step in range(5):
        value = top_value * step / 4
        draw.text((5, y(value) - 6), format_bytes(value), fill="black")
    legend = ("parameters", "gradients", "optimizer", "activations")
    for index, (name, colour) in enumerate(zip(legend, COLOURS, strict=True)):
        draw.rectangle([left + 10 + index * 100, 8, left + 20 + index * 100, 18], fill=colour)
        draw.text((left + 24 + index * 100, 7), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
