"""The UI's pictures (through `leanvoice.figures`, matplotlib): curves of a run's metrics
and the dataset's clip-length histogram, as images Gradio shows."""

from __future__ import annotations

from collections.abc import Sequence

from leanvoice.figures import COLOURS, new_figure, to_image


def curve(
    points: Sequence[tuple[float, float]],
    title: str,
    *,
    as_bytes: bool = False,
    colour: str = COLOURS[0],
):
    """A line through (step, value) points with titled, labelled axes; a frame saying
    "no data yet" when there are none."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(5.6, 2.8)
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel(f"{title} (MiB)" if as_bytes else title)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if points:
        scale = 2**20 if as_bytes else 1
        values = [p[1] / scale for p in points]
        axes.plot([p[0] for p in points], values, color=colour, marker=".")
    else:
        axes.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes.transAxes)
    axes.grid(alpha=0.3)
    return to_image(figure)


def histogram(bins: Sequence[dict]):
    """Bars of clips per duration bin (the prepare report's `duration_histogram`)."""
    figure, axes = new_figure(5.6, 2.8)
    axes.set_title("clips per duration")
    axes.set_xlabel("seconds")
    axes.set_ylabel("clips")
    if bins:
        labels = [f"{b['from_sec']}-{b['to_sec']}" for b in bins]
        bars = axes.bar(labels, [b["clips"] for b in bins], color=COLOURS[2])
        axes.bar_label(bars)
        axes.tick_params(axis="x", labelsize=8)
    return to_image(figure)
