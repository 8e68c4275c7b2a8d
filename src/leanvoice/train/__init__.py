"""Training both stages: `train_stage("gpt" | "sovits", data, out, cfg)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from leanvoice.config.schema import Config
from leanvoice.errors import ConfigError

STAGES = ("gpt", "sovits")


def train_stage(
    stage: str,
    data: Path,
    out: Path,
    cfg: Config,
    *,
    resume: str = "auto",
    overwrite: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train one stage into the run folder `out`; returns the run summary (also written
    to `out/summary.json`). `resume`: auto (continue from the newest readable checkpoint
    in `out`, if any), none, or a checkpoint path. `overwrite`: with `resume="none"`, a
    run already in `out` is moved aside to `out/previous-TIME/` (else refused)."""
    if stage == "gpt":
        from leanvoice.train.gpt import GPTTrainer as Trainer
    elif stage == "sovits":
        from leanvoice.train.sovits import SoVITSTrainer as Trainer
    else:
        raise ConfigError(f"unknown stage {stage!r}: use gpt or sovits")
    return Trainer(cfg, data, out, resume=resume, overwrite=overwrite, console=console).train()
