"""Freeze parameter groups by name (`memory.freeze`), e.g. `[sovits, gpt.embeddings]`.

A name is a stage (`gpt`, `sovits`: the whole network) or `<stage>.<group>`, where the
groups are those the model declares in `parameter_groups()` (GPT: embeddings, layers,
head; SoVITS: text_encoder, posterior, flow, decoder, style, quantizer, speaker, f0).
"""

from __future__ import annotations

import difflib

from torch import nn

from leanvoice.errors import ConfigError

STAGES = ("gpt", "sovits")  # the networks memory.freeze can name


def freeze_names(stage: str, model: nn.Module) -> list[str]:
    """The names `memory.freeze` accepts for this stage's model."""
    return [stage, *(f"{stage}.{group}" for group in model.parameter_groups())]


def group_parameters(model: nn.Module, prefixes: tuple[str, ...]) -> list[tuple[str, nn.Parameter]]:
    """The parameters of the modules named by `prefixes` ("" = the whole model)."""
    return [
        (name, parameter)
        for name, parameter in model.named_parameters()
        if any(p == "" or name.startswith(p + ".") for p in prefixes)
    ]


def _prefixes(model: nn.Module, stage: str, name: str) -> tuple[str, ...]:
    """The module prefixes `name` (a stage, or `<stage>.<group>`) stands for in `model`."""
    group = name.partition(".")[2]
    if not group:
        return ("",)
    if not hasattr(model, "parameter_groups"):
        raise ConfigError(
            f"memory.freeze: {name!r}: {type(model).__name__} declares no parameter groups"
        )
    groups = model.parameter_groups()
    if group not in groups:
        valid = freeze_names(stage, model)
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"memory.freeze: unknown group {name!r}{hint}; valid groups: {', '.join(valid)}"
        )
    return groups[group]


def freeze_groups(models: dict[str, nn.Module], names: list[str]) -> int:
    """Set requires_grad=False on the named groups of `models` ({"gpt": …, "sovits": …}).

    Names of a stage whose model is not given are skipped (a GPT run with
    `freeze: [sovits]`); returns the number of parameters frozen.
    """
    frozen = 0
    for name in names:
        stage = name.partition(".")[0]
        model = models.get(stage)
        if model is None:
            if stage not in STAGES:
                raise ConfigError(
                    f"memory.freeze: unknown group {name!r}; a name is a stage "
                    f"({', '.join(STAGES)}) or <stage>.<group>"
                )
            continue
        for _, parameter in group_parameters(model, _prefixes(model, stage, name)):
            if parameter.requires_grad:
                parameter.requires_grad_(False)
                frozen += parameter.numel()
    return frozen
