"""Optimizers by name (`memory.optimizer`): AdamW (fused/foreach), 8-bit AdamW, step in
backward, CPU-offloaded states, ScaledAdam (the official GPT recipe's). `auto`, which
takes 8-bit states only under memory pressure, is resolved once by the caller
(`resolve_auto`, over every network of a stage) before any optimizer is built. Official
SoVITS AdamW hyperparameters as defaults."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from leanvoice.errors import ConfigError
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward

DEFAULT_BETAS = (0.8, 0.99)
DEFAULT_EPS = 1e-9
# auto: full-precision AdamW holds ~16 bytes per trainable parameter (fp32 weight, gradient,
# two moments); it is kept while that is at most this share of the memory budget, leaving
# the rest to activations. 8-bit states save ~6 of the 16 bytes but their step is slower
# (bench.optimizer_step), so they are worth it only where full precision does not fit.
AUTO_FULL_PRECISION_SHARE = 0.5
FULL_PRECISION_BYTES_PER_PARAMETER = 16


def resolve_auto(
    trainable_parameters: int, device: torch.device | str, budget_bytes: int | None = None
) -> tuple[str, str]:
    """(`adamw` or `adamw8bit`, why) for `memory.optimizer=auto`. The budget is the given
    one, else the CUDA device's memory; on a CPU without a budget host memory is not the
    constraint and 8-bit steps are slower there, so AdamW."""
    device = torch.device(device)
    if budget_bytes is None and device.type == "cuda":
        budget_bytes = torch.cuda.get_device_properties(device).total_memory
    if budget_bytes is None:
        return "adamw", f"auto: full-precision AdamW (no memory budget on {device.type})"
    needed = FULL_PRECISION_BYTES_PER_PARAMETER * trainable_parameters
    share = needed / budget_bytes
    if share <= AUTO_FULL_PRECISION_SHARE:
        return "adamw", f"auto: full-precision AdamW ({share:.0%} of {budget_bytes / 2**30:.1f} GB)"
    return "adamw8bit", (
        f"auto: 8-bit AdamW states (full precision would take {share:.0%} of "
        f"{budget_bytes / 2**30:.1f} GB, over {AUTO_FULL_PRECISION_SHARE:.0%})"
    )


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
    kind: str,
    lr: float,
    *,
    betas: tuple[float, float] = DEFAULT_BETAS,
    eps: float = DEFAULT_EPS,
    weight_decay: float = 0.01,
) -> torch.optim.Optimizer | OptimizerInBackward:
    """`parameters`: parameters, or groups `{"params": [...], "lr": rate}` (a group without
    "lr" takes `lr`). Frozen parameters are left out."""
    groups = trainable_groups(parameters, lr)
    if not groups:
        raise ConfigError("no trainable parameters: check memory.freeze and memory.lora")
    params = [p for group in groups for p in group["params"]]
    device = params[0].device
    options = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
    if kind == "adamw_in_backward":
        rate = {p: group["lr"] for group in groups for p in group["params"]}
        return OptimizerInBackward(
            params, lambda ps: torch.optim.AdamW(ps, **{**options, "lr": rate[ps[0]]})
        )
    if kind == "adamw":
        fused = device.type == "cuda"
        return torch.optim.AdamW(groups, fused=fused, foreach=None if fused else True, **options)
    if kind == "adamw8bit":
        return _adamw_8bit(groups, device, options)
    if kind == "scaled_adam":  # the official GPT recipe's optimizer, its own defaults
        from leanvoice.memory.scaled_adam import ScaledAdam

        return ScaledAdam(groups, lr=lr)
    if kind == "adamw_cpu_offload":
        if device.type != "cuda":
            raise ConfigError(
                "memory.optimizer=adamw_cpu_offload moves GPU optimizer states to CPU memory; "
                f"the model is on {device}, so there is nothing to offload: use adamw"
            )
        from torchao.optim import CPUOffloadOptimizer

        return CPUOffloadOptimizer(groups, torch.optim.AdamW, fused=True, **options)
    raise ConfigError(
        f"memory.optimizer={kind!r}: use adamw, adamw8bit, adamw_in_backward, "
        "adamw_cpu_offload or scaled_adam (resolve auto first: resolve_auto)"
    )


def trainable_groups(
    parameters: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]], lr: float
) -> list[dict[str, Any]]:
    """Parameter groups with their trainable parameters only; empty groups dropped."""
    items = list(parameters)
    groups = items if items and isinstance(items[0], dict) else [{"params": items}]
    kept = []
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            kept.append({**group, "params": params, "lr": group.get("lr", lr)})
    return kept


def _adamw_8bit(params: list[dict[str, Any]], device: torch.device, options: dict):
    """bitsandbytes' fused AdamW8bit wherever it is installed: on CUDA torchao's compiled
    step cost more than a whole training step (H200), and on CPU bitsandbytes measured
    1.8× faster (`bench.optimizer_step`, docs/benchmarks.md); else torchao's."""
    try:
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, **options)
    except ImportError:
        pass
    try:
        from torchao.optim import AdamW8bit
    except ImportError:
        raise ConfigError(
            "memory.optimizer=adamw8bit needs bitsandbytes (pip install 'leanvoice[gpu]') "
            "or torchao (pip install torchao)"
        ) from None
    return AdamW8bit(params, **options)


def optimizer_name(optimizer: object) -> str:
    """The implementation that runs, for reports: "torch AdamW (fused)", "bitsandbytes
    AdamW8bit", "torchao AdamW8bit", "torch AdamW in backward"…"""
    if isinstance(optimizer, OptimizerInBackward):
        return "torch AdamW in backward (one per parameter)"
    cls = type(optimizer)
    library = cls.__module__.split(".")[0]
    name = f"{library} {cls.__name__}"
    if isinstance(optimizer, torch.optim.AdamW):
        defaults = optimizer.defaults
        name += (
            " (fused)" if defaults.get("fused") else " (foreach)" if defaults.get("foreach") else ""
        )
    return name
