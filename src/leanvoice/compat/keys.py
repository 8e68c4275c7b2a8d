"""The one place where official state-dict names meet ours.

Our modules already use the official names, except two conventions:
- GPT checkpoints prefix every key with `model.` (the Lightning wrapper);
- SoVITS uses the legacy weight-norm names `X.weight_g` / `X.weight_v`, which the
  current `torch.nn.utils.parametrizations.weight_norm` stores as
  `X.parametrizations.weight.original0` / `original1` (same tensors, same shapes).
"""

from __future__ import annotations

import torch

StateDict = dict[str, torch.Tensor]
_GPT_PREFIX = "model."
_OURS_G, _OURS_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


def gpt_from_official(state: StateDict) -> StateDict:
    return {k.removeprefix(_GPT_PREFIX): v for k, v in state.items()}


def gpt_to_official(state: StateDict) -> StateDict:
    return {_GPT_PREFIX + k: v for k, v in state.items()}


def sovits_from_official(state: StateDict) -> StateDict:
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            key = key.removesuffix(".weight_g") + _OURS_G
        elif key.endswith(".weight_v"):
            key = key.removesuffix(".weight_v") + _OURS_V
        out[key] = value
    return out


def sovits_to_official(state: StateDict) -> StateDict:
    out = {}
    for key, value in state.items():
        if key.endswith(_OURS_G):
            key = key.removesuffix(_OURS_G) + ".weight_g"
        elif key.endswith(_OURS_V):
            key = key.removesuffix(_OURS_V) + ".weight_v"
        out[key] = value
    return out
