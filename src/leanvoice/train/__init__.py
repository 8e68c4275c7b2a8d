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
    valid: Path | None = None,
) -> dict[str, Any]:
    """Train one stage into the run folder `out`; returns the run summary (also written
    to `out/summary.json`). `resume`: auto (continue from the newest readable checkpoint
    in `out`, if any), none, or a checkpoint path. `overwrite`: with `resume="none"`, a
    run already in `out` is moved aside to `out/previous-TIME/` (else refused). `valid`: a prepared
    folder of held-out clips (else `data.valid_fraction` of `data`'s)."""
    Trainer = trainer_class(stage, cfg)
    options = {"resume": resume, "overwrite": overwrite, "console": console, "valid": valid}
    return Trainer(cfg, data, out, **options).train()


def trainer_class(stage: str, cfg: Config) -> type:
    """The trainer of `stage` for `model.version`: the GPT, the VITS SoVITS (v2, v2Pro,
    v2ProPlus) or the flow-matching one (v3, v4, v5dev, v5turbo)."""
    if stage == "gpt":
        from leanvoice.train.gpt import GPTTrainer

        return GPTTrainer
    if stage != "sovits":
        raise ConfigError(f"unknown stage {stage!r}: use gpt or sovits")
    from leanvoice.models.cfm.config import VERSIONS as CFM_VERSIONS

    if cfg.model.version in CFM_VERSIONS:
        from leanvoice.train.cfm import CFMTrainer

        return CFMTrainer
    from leanvoice.train.sovits import SoVITSTrainer

    return SoVITSTrainer
