"""Official v3/v4/v5 files (the flow-matching SoVITS): full weights and LoRA files.

What the official code (GPT-SoVITS 48b1a01: process_ckpt.py, s2_train_v3*.py,
inference_webui.py, TTS_infer_pack/TTS.py; v5: 3b95794c process_ckpt.py) writes and reads:
- Full weights `{"weight": fp16 state dict, "config": s2.json layout, "info": str}`. The
  pretrained `s2Gv3.pth`, `gsv-v4-pretrained/s2Gv4.pth` and
  `gsv-v5-pretrained/s2Gv5dev.pth` / `s2Gv5turbo.pth` are told apart by the MD5 of their
  first 8 KiB (`PRETRAINED_MD5`): v3 and v4 have the same shapes, and so have v5dev and
  v5turbo (v5 without the DiT's `d_embed`). Other `PK` files over 700 MB count as v3;
  header `02` also means a full v3 file.
- LoRA files (`savee` with `lora_rank`): in fp16, every key that is not a frozen
  parameter: `ref_enc`, `bridge`, `wns1`, `linear_mel`, every buffer (the codebook, the
  rotary `inv_freq`) and the adapters under peft's names inside `cfm`
  (`cfm.base_model.model.<module>.lora_A.default.weight`); `lora_rank`, `config`, `info`;
  header `03` (v3), `04` (v4), `07` (v5dev) or `08` (v5turbo). Inference loads the
  pretrained base, wraps `cfm` in peft (to_q, to_k, to_v, to_out.0; alpha = rank), loads
  the file non-strictly and merges.
- A full v4 or v5 fine-tune has no header of its own: a plain file would be read as v3.
  We write it as a LoRA file that holds every weight (under peft's names) and no
  adapters: the official loader overwrites the whole base with it and merges a zero
  adapter (its B starts at zero), so it runs exactly these weights, as that version.

The vocoders' files (v4's `vocoder.pth`, v3's BigVGAN folder): `compat.vocoders`.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from leanvoice.compat.keys import sovits_from_official, sovits_to_official
from leanvoice.compat.official import (
    HEADER_OF_VERSION,
    holds_cfm_weights,
    load_official_sovits,
    sovits_official_config,
)
from leanvoice.compat.safe_load import ZIP_MAGIC, read_checkpoint
from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write
from leanvoice.models.cfm import CFMSoVITS, size_from_state_dict
from leanvoice.models.cfm.config import VERSIONS, CFMSize

StateDict = dict[str, torch.Tensor]

# process_ckpt.py hash_pretrained_dict: MD5 of the first 8192 bytes → version
PRETRAINED_MD5 = {
    "43797be674a37c1c83ee81081941ed0f": "v3",  # s2Gv3.pth
    "4f26b9476d0c5033e04162c486074374": "v4",  # gsv-v4-pretrained/s2Gv4.pth
    "c4ce1f839a0d271e41963f9fb16ade76": "v5dev",  # gsv-v5-pretrained/s2Gv5dev.pth
    "6bc5cb2a195cc8ec22b2e723cd4d6f47": "v5turbo",  # gsv-v5-pretrained/s2Gv5turbo.pth
}
HASHED_BYTES = 8192
# read_checkpoint's names for the headers 02, 03, 04, 07, 08 → (version, is a LoRA file)
CFM_HEADERS = {
    "v3": ("v3", False),
    "v3-lora": ("v3", True),
    "v4-lora": ("v4", True),
    "v5dev-lora": ("v5dev", True),
    "v5turbo-lora": ("v5turbo", True),
}
PEFT_PREFIX = "cfm.base_model.model."  # get_peft_model(net_g.cfm) wraps cfm twice
ADAPTER = re.compile(r"(?P<module>.+)\.lora_(?P<which>[AB])\.default\.weight")
# parameters the official v3/v4/v5 LoRA trainer freezes (freeze_quantizer) and so never saves
FROZEN_PREFIXES = ("enc_p.", "ssl_proj.", "quantizer.", "cfm.")
ZERO_ADAPTER_RANK = 1  # lora_rank of a full v4/v5 file: the adapter the loader adds is zero


# -- reading --------------------------------------------------------------------------------
def load_official_cfm(path: Path, version: str | None = None) -> tuple[CFMSoVITS, dict[str, Any]]:
    """A full official v3/v4/v5 SoVITS file (or ours) → our model in eval mode, and its config.

    The version comes from the file (pretrained hash, then header), else from `version`,
    else from its config: v3 and v4 have the same shapes (and so have v5dev and v5turbo),
    so a header-less file without one is refused. A LoRA file needs its base:
    `load_official_cfm_lora`.
    """
    path = Path(path)
    data, header = read_checkpoint(path)
    weight = _cfm_weight(path, data)
    base, adapters = _split_peft(path, weight)
    version = cfm_file_version(path, header, data.get("config") or {}, version, base)
    state = sovits_from_official({k: v.float() for k, v in base.items()})
    try:
        size = size_from_state_dict(state, version)
    except KeyError as missing:
        if header in CFM_HEADERS and CFM_HEADERS[header][1]:
            raise InputError(
                f"{path}: a {version} LoRA file holds only what it trained; load it onto "
                "its pretrained base: load_official_cfm_lora(pretrained, lora)"
            ) from None
        raise InputError(f"{path}: incomplete {version} SoVITS weights: no {missing}") from None
    except ValueError as wrong:
        raise InputError(f"{path}: {wrong}") from None
    model = CFMSoVITS(size)
    _fill_rotary_frequencies(state, model)
    load_exact(path, model, state)
    if adapters:
        _merge(path, model, adapters, data.get("lora_rank"))
    return model.eval(), data.get("config") or {}


def load_any_official_sovits(path: Path, cfm_version: str | None = None) -> nn.Module:
    """Any official SoVITS file: v2/v2Pro/v2ProPlus (`load_official_sovits`) or a full
    v3/v4/v5 one (`load_official_cfm`, `cfm_version` for a file that does not say its own),
    told apart by its keys; in eval mode."""
    data, _ = read_checkpoint(Path(path))
    weight = data.get("weight", {}) if isinstance(data, dict) else {}
    if holds_cfm_weights(weight):
        return load_official_cfm(path, cfm_version)[0]
    return load_official_sovits(path)[0]


def load_official_cfm_lora(
    pretrained_path: Path, lora_path: Path, version: str | None = None
) -> CFMSoVITS:
    """The official inference path: the pretrained base, then the LoRA file's keys, with
    its adapters merged (alpha = rank, as the official). Our merge is peft's arithmetic,
    W + (B @ A) · 1 in fp32. The version is the LoRA file's header (or `version`)."""
    lora_path = Path(lora_path)
    data, header = read_checkpoint(lora_path)
    weight = _cfm_weight(lora_path, data)
    if "lora_rank" not in data:
        raise InputError(f"{lora_path}: not a LoRA file (no lora_rank); load it alone")
    version = cfm_file_version(lora_path, header, data.get("config") or {}, version)
    model, _ = load_official_cfm(pretrained_path, version)
    base, adapters = _split_peft(lora_path, weight)
    overrides = sovits_from_official({k: v.float() for k, v in base.items()})
    check_state_keys(lora_path, model, overrides, partial=True)
    model.load_state_dict(overrides, strict=False)
    _merge(lora_path, model, adapters, data["lora_rank"])
    return model.eval()


def cfm_file_version(
    path: Path,
    header: str | None,
    config: dict[str, Any],
    requested: str | None,
    weight: StateDict | None = None,
) -> str:
    """The CFM version, as the official WebUI decides (pretrained hash, then header), else
    the caller's `requested`, else the config's `model.version` (official trainers write
    it). `weight` (plain names) narrows the question when none says: v5 has no `d_embed`."""
    known = _pretrained_version(path)
    if known is None and header is not None:
        if header not in CFM_HEADERS:
            raise InputError(f"{path}: a SoVITS {header} file: load it with load_official_sovits")
        known = CFM_HEADERS[header][0]
    if requested is not None and requested not in VERSIONS:
        raise InputError(
            f"{path}: version {requested!r} is not a CFM version ({', '.join(VERSIONS)})"
        )
    if known is not None:
        if requested not in (None, known):
            raise InputError(f"{path}: the file says {known}, but {requested} was asked for")
        return known
    stated = config.get("model", {}).get("version")
    version = requested or (stated if stated in VERSIONS else None)
    if version is None:
        pair = "v3 or v4"
        holds_dit = weight is not None and "cfm.estimator.proj_out.weight" in weight
        if holds_dit and not any(".d_embed." in key for key in weight):
            pair = "v5dev or v5turbo"
        raise InputError(
            f"{path}: no version header, and {pair} have the same shapes: give its version ({pair})"
        )
    return version


# -- writing --------------------------------------------------------------------------------
def export_cfm_lora(
    source: nn.Module | StateDict,
    path: Path,
    *,
    rank: int | None = None,
    version: str | None = None,
    alpha: float | None = None,
    info: str = "1epoch_1iteration",
) -> None:
    """Our model with peft adapters on its DiT (or its `state_dict()`) → the official LoRA
    file (header `03`/`04`) that the official inference loads onto its pretrained base.

    The adapters' scale alpha / rank is folded into B: the official loads with alpha =
    rank. Read from a module's adapters; for a state dict give `alpha` (default: rank).
    `rank` and `version`, when given, are checked against the model.
    """
    state, scaling, size, buffers = _source(source, version, alpha)
    base, adapters = _split_ours(state)
    _check_official_targets(adapters)
    ranks = {a.shape[0] for a, _ in adapters.values()}
    if len(ranks) != 1:
        raise InputError(f"export: LoRA needs adapters of one rank on the DiT; found {ranks}")
    (found,) = ranks
    if rank is not None and rank != found:
        raise InputError(f"export: rank {rank} asked for, but the adapters have rank {found}")
    kept = {k: v for k, v in base.items() if k in buffers or not k.startswith(FROZEN_PREFIXES)}
    weight = {
        _peft_name(k) if k.startswith("cfm.") else k: v for k, v in sovits_to_official(kept).items()
    }
    for module, (a, b) in adapters.items():
        weight[f"{_peft_name(module)}.lora_A.default.weight"] = a
        weight[f"{_peft_name(module)}.lora_B.default.weight"] = b * scaling.get(module, 1.0)
    payload = {
        "weight": {k: v.detach().half().cpu() for k, v in weight.items()},
        "config": cfm_official_config(size),
        "info": info,
        "lora_rank": found,
    }
    _save(payload, path, HEADER_OF_VERSION[f"{size.version}-lora"])


def export_cfm_full(
    model: nn.Module | StateDict,
    path: Path,
    version: str | None = None,
    info: str = "1epoch_1iteration",
) -> None:
    """Every weight in fp16, adapters (if any) merged, so the official WebUI loads it as
    this version: v3 with header `02`; v4/v5 as a LoRA file holding every weight (no
    other header says "v4, full" or "v5, full"). `load_official_cfm` reads both back
    without a base."""
    weight, size = cfm_full_weights(model, version)
    payload: dict[str, Any] = {
        "weight": {k: v.detach().half().cpu() for k, v in weight.items()},
        "config": cfm_official_config(size),
        "info": info,
    }
    header = "v3"
    if size.version != "v3":
        payload["lora_rank"] = ZERO_ADAPTER_RANK
        header = f"{size.version}-lora"
    _save(payload, path, HEADER_OF_VERSION[header])


def cfm_full_weights(
    model: nn.Module | StateDict, version: str | None = None
) -> tuple[StateDict, CFMSize]:
    """(what a full file holds, under its names; the model's size): adapters merged,
    official weight-norm names; for v4/v5 the DiT under peft's names, each LoRA target's
    weights as its `base_layer`. No copy or cast, so it works on the meta device."""
    state, scaling, size, _ = _source(model, version, None)
    base, adapters = _split_ours(state)
    if any(_quantized(key) for key in base):
        raise InputError(
            "export: the DiT's base is 4-bit (QLoRA): merge the adapters into a "
            "dequantized copy first (memory.lora.merge_lora)"
        )
    for module, (a, b) in adapters.items():
        key = f"{module}.weight"
        base[key] = base[key] + (b.float() @ a.float()) * scaling.get(module, 1.0)
    weight = sovits_to_official(base)
    if size.version == "v3":
        return weight, size
    targets = {key.rpartition(".")[0] for key in weight if _is_lora_target(key)}
    peft_named = {
        _peft_name(k, targets) if k.startswith("cfm.") else k: v for k, v in weight.items()
    }
    return peft_named, size


def cfm_official_config(size: CFMSize) -> dict[str, Any]:
    """The s2.json layout the official loader builds SynthesizerTrnV3 from (its DiT and
    widths are fixed in code), with `model.version`."""
    config = sovits_official_config(size.text_encoder_size())
    config["model"]["version"] = size.version
    return config


# -- helpers --------------------------------------------------------------------------------
def _pretrained_version(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(HASHED_BYTES)
    return PRETRAINED_MD5.get(hashlib.md5(head).hexdigest())


def _cfm_weight(path: Path, data: dict[str, Any]) -> StateDict:
    weight = data.get("weight")
    if not isinstance(weight, dict) or not holds_cfm_weights(weight):
        other = "a v2 SoVITS file (load_official_sovits)" if weight else "no 'weight' dict"
        raise InputError(f"{path}: not a v3/v4/v5 SoVITS file: no 'cfm.*' weights; {other}")
    return weight


def _split_peft(path: Path, weight: StateDict) -> tuple[StateDict, dict[str, list]]:
    """Official file keys → (base keys with plain names, {our module: [A, B]})."""
    base, adapters = {}, {}
    for key, value in weight.items():
        if not key.startswith(PEFT_PREFIX):
            base[key] = value
            continue
        name = "cfm." + key.removeprefix(PEFT_PREFIX)
        match = ADAPTER.fullmatch(name)
        if match:
            pair = adapters.setdefault(match["module"], [None, None])
            pair[match["which"] == "B"] = value
        elif ".lora_" in name:
            raise InputError(f"{path}: unsupported adapter key {key} (only LoRA A/B, 'default')")
        else:
            base[name.replace(".base_layer.", ".")] = value
    for module, (a, b) in adapters.items():
        if a is None or b is None:
            raise InputError(
                f"{path}: the adapter of {module} lacks its lora_{'AB'[a is not None]}"
            )
    return base, adapters


def _merge(path: Path, model: CFMSoVITS, adapters: dict[str, list], rank: Any) -> None:
    """peft's merge with alpha = rank (scale 1): W += (B @ A) · 1, in fp32."""
    params = dict(model.named_parameters())
    for module, (a, b) in adapters.items():
        key = f"{module}.weight"
        if key not in params or not _is_lora_target(key):
            raise InputError(f"{path}: an adapter on {module}, which the official does not adapt")
        if a.shape[0] != rank or b.shape[1] != rank:
            raise InputError(
                f"{path}: lora_rank is {rank}, but {module}'s adapter has rank {a.shape[0]}"
            )
        weight = params[key]
        if (b.shape[0], a.shape[1]) != tuple(weight.shape):
            raise InputError(
                f"{path}: {module}'s adapter does not fit its weight {tuple(weight.shape)}"
            )
        with torch.no_grad():
            weight += (b.float() @ a.float()) * 1.0


def _is_lora_target(key: str) -> bool:
    """A weight of the DiT's to_q/to_k/to_v/to_out.0 (the official LoRA targets)."""
    return (
        re.fullmatch(r"cfm\.estimator\..*\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)", key)
        is not None
    )


def load_exact(path: Path, model: nn.Module, state: StateDict) -> None:
    check_state_keys(path, model, state, partial=False)
    model.load_state_dict(state, strict=True)


def check_state_keys(path: Path, model: nn.Module, state: StateDict, *, partial: bool) -> None:
    """An InputError in one line for a key or shape that does not match `model`
    (missing keys only when not `partial`)."""
    expected = model.state_dict()
    unexpected = [k for k in state if k not in expected]
    missing = [] if partial else [k for k in expected if k not in state]
    wrong = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    for problem, keys in (("unexpected", unexpected), ("missing", missing), ("misshapen", wrong)):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            raise InputError(
                f"{path}: does not match the model its shapes give: {problem} {keys[0]}{more}"
            )


def _fill_rotary_frequencies(state: StateDict, model: CFMSoVITS) -> None:
    """`inv_freq` is a constant of the head width; a file saved without it gets ours."""
    key = "cfm.estimator.rotary_embed.inv_freq"
    if key not in state:
        state[key] = model.state_dict()[key].clone()


def _source(
    source: nn.Module | StateDict, version: str | None, alpha: float | None
) -> tuple[StateDict, dict[str, float], CFMSize, set[str]]:
    """(our-named state dict, adapter module → scale alpha / rank, the size with its
    version, the names of the buffers)."""
    if isinstance(source, nn.Module):
        size = source.size
        if version not in (None, size.version):
            raise InputError(f"export: the model is {size.version}, but {version} was asked for")
        scaling = {
            name: float(module.scaling["default"])
            for name, module in source.named_modules()
            if "default" in getattr(module, "scaling", {})
        }
        buffers = {name.replace(".base_layer.", ".") for name, _ in source.named_buffers()}
        return dict(source.state_dict()), scaling, size, buffers
    if version not in VERSIONS:
        raise InputError(f"export: give the CFM version ({', '.join(VERSIONS)}), not {version!r}")
    base, adapters = _split_ours(source)
    if any(_quantized(key) for key in base):
        raise InputError("export: a 4-bit (QLoRA) state dict: pass the model itself")
    rank_of = {module: a.shape[0] for module, (a, _) in adapters.items()}
    scaling = {m: alpha / r for m, r in rank_of.items()} if alpha is not None else {}
    try:
        size = size_from_state_dict(base, version)
    except ValueError as wrong:
        raise InputError(f"export: {wrong}") from None
    with torch.device("meta"):  # the model's buffer names, at no cost
        buffers = {name for name, _ in CFMSoVITS(size).named_buffers()}
    return dict(source), scaling, size, buffers


def _quantized(key: str) -> bool:
    """A bitsandbytes 4-bit weight's state (QLoRA)."""
    return re.search(r"\.weight\.(absmax|quant_map|nested_\w+|quant_state\..+)$", key) is not None


def _split_ours(state: StateDict) -> tuple[StateDict, dict[str, tuple]]:
    """Our model's state dict, adapters injected by peft in place (or not) → (plain
    weights, {module: (A, B)})."""
    base, pairs = {}, {}
    for key, value in state.items():
        key = key.replace(PEFT_PREFIX, "cfm.", 1)  # a cfm wrapped as the official trainer does
        match = ADAPTER.fullmatch(key)
        if match:
            pairs.setdefault(match["module"], {})[match["which"]] = value
        elif ".lora_" not in key:
            base[key.replace(".base_layer.", ".")] = value
    return base, {module: (pair["A"], pair["B"]) for module, pair in pairs.items()}


def _check_official_targets(adapters: dict[str, tuple]) -> None:
    if not adapters:
        raise InputError("export: the model has no LoRA adapters; export it with export_cfm_full")
    stray = [m for m in adapters if not _is_lora_target(f"{m}.weight")]
    if stray:
        raise InputError(
            f"export: an adapter on {stray[0]}: the official inference adapts only the "
            "DiT's to_q, to_k, to_v and to_out.0, and would drop it"
        )


def _peft_name(key: str, targets: set[str] | None = None) -> str:
    """`cfm.X` → `cfm.base_model.model.X`; a LoRA target's weight → its `base_layer`."""
    rest = key.removeprefix("cfm.")
    module, _, leaf = key.rpartition(".")
    if targets is not None and module in targets:
        rest = f"{module.removeprefix('cfm.')}.base_layer.{leaf}"
    return PEFT_PREFIX + rest


def _save(payload: dict[str, Any], path: Path, header: bytes) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    raw = buffer.getvalue()
    assert raw[:2] == ZIP_MAGIC
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(header + raw[2:]))
