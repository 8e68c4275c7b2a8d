"""Every picture LeanVoice draws goes through matplotlib (Agg, no screen): the plan's
memory bars, the UI's curves and histogram. One place for the look and for turning a
figure into a PNG file or an image the web UI shows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")  # parameters, gradients, states, activations


def new_figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


def save_png(figure: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def to_image(figure: Any):
    """A PIL image of the figure (what Gradio's Image component shows)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
