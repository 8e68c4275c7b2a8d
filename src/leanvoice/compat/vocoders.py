"""The official vocoders' files, apart from the SoVITS files (`compat.cfm`): v4's
`vocoder.pth` and v3's BigVGAN folder, loaded safely (`read_checkpoint`, strict keys),
BigVGAN's weight norm folded into plain weights, and written back in the official layout.

What the official code (GPT-SoVITS 48b1a01: inference_webui.py, TTS_infer_pack/TTS.py)
reads:
- The v4 vocoder `vocoder.pth` is a bare state dict (weight norm removed).
- The v3 vocoder, BigVGAN, is NVIDIA's folder `models--nvidia--bigvgan_v2_24khz_100band_256x`:
  `config.json` (the hyperparameters) and `bigvgan_generator.pt`, `{"generator": state
  dict}` with weight norm (`weight_g`, `weight_v` over dim 0); the WebUI loads it with
  `BigVGAN.from_pretrained` and calls `remove_weight_norm`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from leanvoice.compat.cfm import StateDict, load_exact
from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.errors import ConfigError, InputError
from leanvoice.fsutil import atomic_write
from leanvoice.models.cfm import BigVGAN, BigVGANSize, MelVocoder, vocoder_size_from_state_dict

BIGVGAN_CONFIG = "config.json"  # the two files of the official BigVGAN folder
BIGVGAN_WEIGHTS = "bigvgan_generator.pt"


# -- reading --------------------------------------------------------------------------------
def load_official_vocoder(path: Path) -> MelVocoder | BigVGAN:
    """An official vocoder → ours in eval mode: v4's `vocoder.pth` (a bare state dict), or
    v3's BigVGAN, its folder or its `bigvgan_generator.pt` (`load_official_bigvgan`)."""
    path = Path(path)
    if path.is_dir():
        return load_official_bigvgan(path)
    data, _ = read_checkpoint(path)
    if "generator" in data:
        return _bigvgan_from(path, data)
    if "conv_pre.weight" not in data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise InputError(
            f"{path}: not the v4 vocoder (vocoder.pth): no bare conv_pre.weight; nor v3's "
            f"BigVGAN ({BIGVGAN_WEIGHTS}): no 'generator'"
        )
    state = {k: v.float() for k, v in data.items()}
    try:
        model = MelVocoder(vocoder_size_from_state_dict(state))
    except KeyError as missing:
        raise InputError(f"{path}: incomplete vocoder weights: no {missing}") from None
    load_exact(path, model, state)
    return model.eval()


def load_official_bigvgan(path: Path) -> BigVGAN:
    """v3's BigVGAN: the official folder (`config.json` + `bigvgan_generator.pt`), or that
    `.pt` with the `config.json` beside it → our BigVGAN in eval mode, weight norm folded
    into plain weights as the official `remove_weight_norm` computes them."""
    path = Path(path)
    weights = path / BIGVGAN_WEIGHTS if path.is_dir() else path
    if not weights.is_file():
        raise InputError(f"{path}: not a BigVGAN folder: no {BIGVGAN_WEIGHTS}")
    data, _ = read_checkpoint(weights)
    return _bigvgan_from(weights, data)


def _bigvgan_from(path: Path, data: dict[str, Any]) -> BigVGAN:
    generator = data.get("generator")
    if not isinstance(generator, dict) or not all(
        isinstance(v, torch.Tensor) for v in generator.values()
    ):
        raise InputError(f"{path}: not a BigVGAN generator: 'generator' is not a state dict")
    size = _bigvgan_size(path.parent / BIGVGAN_CONFIG)
    state = fold_weight_norm(path, {k: v.float() for k, v in generator.items()})
    model = BigVGAN(size)
    load_exact(path, model, state)
    return model.eval()


def _bigvgan_size(config_path: Path) -> BigVGANSize:
    if not config_path.is_file():
        raise InputError(f"{config_path}: not found; BigVGAN's weights need their config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ConfigError(f"a JSON {type(config).__name__}, not an object")
        return BigVGANSize.from_config(config)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ConfigError) as error:
        raise InputError(f"{config_path}: not a BigVGAN config: {error}") from None


def fold_weight_norm(path: Path, state: StateDict) -> StateDict:
    """`name.weight_g` + `name.weight_v` (torch.nn.utils.weight_norm over dim 0) → plain
    `name.weight` = g · v / ‖v‖, computed by the op `remove_weight_norm` runs, so the result
    is bit-identical to the official's; other keys pass unchanged."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            if key.removesuffix("_v") + "_g" not in state:
                raise InputError(f"{path}: {key} without its weight_g")
            continue
        if not key.endswith(".weight_g"):
            folded[key] = value
            continue
        name = key.removesuffix("_g")
        direction = state.get(f"{name}_v")
        if direction is None:
            raise InputError(f"{path}: {key} without its weight_v")
        if value.shape != (direction.shape[0],) + (1,) * (direction.dim() - 1):
            raise InputError(
                f"{path}: {key} has shape {tuple(value.shape)}, not one norm per output "
                f"channel of {name}_v {tuple(direction.shape)} (weight norm over dim 0)"
            )
        folded[name] = torch._weight_norm(direction, value, 0)
    return folded


# -- writing --------------------------------------------------------------------------------
def export_bigvgan(model: BigVGAN, directory: Path) -> Path:
    """Our BigVGAN → the official folder: `config.json` and `bigvgan_generator.pt` with
    weight norm as the official saves it (`weight_v` = the weight, `weight_g` = its norm
    per output channel), which the official `BigVGAN.from_pretrained` loads."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().float().cpu()
        if key.endswith(".weight"):  # every conv's: all have weight norm in the official
            state[f"{key}_g"] = torch.norm_except_dim(value, 2, 0)
            state[f"{key}_v"] = value
        else:
            state[key] = value
    config = json.dumps(model.size.to_config(), indent=4)
    atomic_write(directory / BIGVGAN_CONFIG, lambda tmp: tmp.write_text(config, encoding="utf-8"))
    # the weights last: their file says the folder is complete
    atomic_write(directory / BIGVGAN_WEIGHTS, lambda tmp: torch.save({"generator": state}, tmp))
    return directory
