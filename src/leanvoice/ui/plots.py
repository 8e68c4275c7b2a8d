"""The UI's pictures, drawn with Pillow (already installed through TensorBoard): curves
of a run's metrics and the dataset's clip-length histogram."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from leanvoice.memory.report import format_bytes

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 560, 260, 70, 30, 28


def curve(
    points: Sequence[tuple[float, float]],
    title: str,
    *,
    as_bytes: bool = False,
    colour: tuple[int, int, int] = (76, 114, 176),
) -> Image.Image:
    """A line through (x, y) points with labelled axes; an empty frame when there are none."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((LEFT, 8), title, fill="black")
    draw.line([LEFT, TOP, LEFT, HEIGHT - BOTTOM, WIDTH - 10, HEIGHT - BOTTOM], fill="black")
    if not points:
        draw.text((LEFT + 20, HEIGHT // 2), "no data yet", fill="grey")
        return image
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            LEFT + (WIDTH - 10 - LEFT) * (x - x0) / (x1 - x0),
            HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (y - y0) / (y1 - y0),
        )

    draw.line(
        [at(x, y) for x, y in points] if len(points) > 1 else [at(xs[0], ys[0])] * 2,
        fill=colour,
        width=2,
    )
    label = format_bytes if as_bytes else (lambda v: f"{v:.4g}")
    for value in (y0, (y0 + y1) / 2, y1):
        draw.text((4, at(x0, value)[1] - 6), label(value), fill="black")
    draw.text((LEFT, HEIGHT - BOTTOM + 6), f"step {x0:g}", fill="black")
    draw.text((WIDTH - 90, HEIGHT - BOTTOM + 6), f"step {x1:g}", fill="black")
    return image


def histogram(bins: Sequence[dict]) -> Image.Image:
    """Bars of clips per duration bin (the prepare report's `duration_histogram`)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((LEFT, 8), "clips per duration (seconds)", fill="black")
    draw.line([LEFT, TOP, LEFT, HEIGHT - BOTTOM, WIDTH - 10, HEIGHT - BOTTOM], fill="black")
    if not bins:
        return image
    top = max(b["clips"] for b in bins) or 1
    width = (WIDTH - 20 - LEFT) / len(bins)
    for index, b in enumerate(bins):
        x = LEFT + 5 + index * width
        y = HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP - 12) * b["clips"] / top
        draw.rectangle([x, y, x + width - 6, HEIGHT - BOTTOM], fill=(85, 168, 104))
        draw.text((x, y - 12), str(b["clips"]), fill="black")
        draw.text((x, HEIGHT - BOTTOM + 6), f"{b['from_sec']}-{b['to_sec']}", fill="black")
    return image
