"""Official GPT `.ckpt` and SoVITS `.pth` files: load into our models, export from them.

GPT: `{"weight": {"model.*": fp16}, "config": s1 YAML as a dict, "info": str}`.
SoVITS: `{"weight": state dict without enc_q, fp16, "config": {"model", "data", …},
"info": str}`, written with the 2-byte version code (`01` v2, `05` v2Pro, `06` v2ProPlus)
in place of `PK`: the official WebUI takes the version from the header (v2 files without
one it tells from the file size), and builds the Pro layers only when the header says so.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from leanvoice.compat.keys import (
    gpt_from_official,
    gpt_to_official,
    sovits_from_official,
    sovits_to_official,
)
from leanvoice.compat.safe_load import VERSION_HEADERS, ZIP_MAGIC, read_checkpoint
from leanvoice.config.sizes import SOVITS_VERSIONS, GPTSize, SoVITSSize, load_size
from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import MultiPeriodDiscriminator, SoVITSGenerator

HEADER_OF_VERSION = {version: header for header, version in VERSION_HEADERS.items()}
PRO_PLUS_DECODER_CHANNELS = 768  # configs/s2v2ProPlus.json upsample_initial_channel


def load_official_gpt(path: Path) -> tuple[SemanticGPT, dict[str, Any]]:
    """An official (or our exported) GPT `.ckpt` → our model in eval mode, and its config."""
    data, _ = read_checkpoint(path)
    if "weight" not in data or not any(k.startswith("model.") for k in data["weight"]):
        raise InputError(f"{path}: not a GPT (stage 1) checkpoint: no 'model.*' weights")
    state = gpt_from_official(data["weight"])
    config = data.get("config") or {}
    model_cfg = config.get("model", {})
    dim = state["ar_text_embedding.word_embeddings.weight"].shape[1]
    size = GPTSize(
        phoneme_vocab_size=state["ar_text_embedding.word_embeddings.weight"].shape[0],
        semantic_vocab_size=state["ar_audio_embedding.word_embeddings.weight"].shape[0],
        eos_id=int(model_cfg.get("EOS", state["ar_predict_layer.weight"].shape[0] - 1)),
        model_dim=dim,
        num_heads=int(model_cfg.get("head", 16)),
        num_layers=1 + max(int(k.split(".")[2]) for k in state if k.startswith("h.layers.")),
        ffn_dim=state["h.layers.0.linear1.weight"].shape[0],
        dropout=0.1,
        bert_dim=state["bert_proj.weight"].shape[1],
    )
    model = SemanticGPT(size)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval(), config


def holds_cfm_weights(weight: dict[str, Any]) -> bool:
    """A v3/v4 (flow-matching) SoVITS state dict: it has the CFM's `cfm.*` keys."""
    return any(str(key).startswith("cfm.") for key in weight)


def load_official_sovits(path: Path) -> tuple[SoVITSGenerator, dict[str, Any]]:
    """An official (or exported) SoVITS `.pth` → our generator in eval mode, and config.
    Its version (v2, v2Pro, v2ProPlus) is `model.size.version`."""
    data, header = read_checkpoint(path)
    weight = data.get("weight", {})
    if holds_cfm_weights(weight):
        raise InputError(f"{path}: a v3/v4 SoVITS file: load it with compat.cfm.load_official_cfm")
    if "enc_p.text_embedding.weight" not in weight:
        raise InputError(f"{path}: not a SoVITS (stage 2) checkpoint: no 'enc_p.*' weights")
    config = data.get("config") or {}
    version = sovits_version(path, header, config, weight)
    size = sovits_size_from_config(config, weight, version)
    model = SoVITSGenerator(size, with_posterior=any(k.startswith("enc_q.") for k in weight))
    state = sovits_from_official({k: v.float() for k, v in weight.items()})
    model.load_state_dict(state, strict=True)
    return model.eval(), config


def sovits_version(
    path: Path, header: str | None, config: dict[str, Any], weight: dict[str, torch.Tensor]
) -> str:
    """The version the file's header states (what the official loader trusts); without
    one (v2 files, official pretrained ones), its shapes: `sv_emb` makes it Pro, and
    ProPlus if its config says so or its decoder starts 768 channels wide."""
    if header is not None and header not in SOVITS_VERSIONS:
        raise InputError(
            f"{path}: a SoVITS {header} file; this loader reads {', '.join(SOVITS_VERSIONS)}"
        )
    pro = "sv_emb.weight" in weight
    if header is not None:
        if pro != (header != "v2"):  # a Pro header needs the sv_emb layers, v2 has none
            has = "has" if pro else "lacks"
            raise InputError(
                f"{path}: its header says SoVITS {header} but it {has} the "
                "speaker-verification layers (sv_emb): the file is inconsistent"
            )
        return header
    if not pro:
        return "v2"
    stated = config.get("model", {}).get("version")
    if stated in ("v2Pro", "v2ProPlus"):
        return stated
    plus = weight["dec.conv_pre.weight"].shape[0] == PRO_PLUS_DECODER_CHANNELS
    return "v2ProPlus" if plus else "v2Pro"


def sovits_size_from_config(
    config: dict[str, Any], weight: dict[str, torch.Tensor], version: str = "v2"
) -> SoVITSSize:
    model_cfg, data_cfg = config.get("model", {}), config.get("data", {})
    hop = int(data_cfg.get("hop_length", 640))
    kernel_sizes = list(model_cfg.get("resblock_kernel_sizes", [3, 7, 11]))
    dilations = model_cfg.get("resblock_dilation_sizes", [[1, 3, 5]] * len(kernel_sizes))
    flow_layers = [k for k in weight if k.startswith("flow.flows.") and k.endswith(".pre.weight")]
    # widths from the weights themselves: a Pro file's config may be v2's s2.json
    gin = weight["ref_enc.fc.fc.weight"].shape[0]
    mrte = weight["enc_p.mrte.c_pre.weight"].shape[0]
    upsample_kernels = list(model_cfg.get("upsample_kernel_sizes", [16, 16, 8, 2, 2]))
    for index in range(len(upsample_kernels)):
        if f"dec.ups.{index}.weight_v" in weight:  # transposed convs (not smooth upsampling)
            upsample_kernels[index] = weight[f"dec.ups.{index}.weight_v"].shape[2]
    return SoVITSSize(
        sample_rate=int(data_cfg.get("sampling_rate", 32000)),
        n_fft=int(data_cfg.get("filter_length", 2048)),
        hop_length=hop,
        win_length=int(data_cfg.get("win_length", 2048)),
        n_mels=int(data_cfg.get("n_mel_channels", 128)),
        segment_samples=int(config.get("train", {}).get("segment_size", 20480)),
        ssl_dim=weight["ssl_proj.weight"].shape[0],
        codebook_size=weight["quantizer.vq.layers.0._codebook.embed"].shape[0],
        inter_channels=int(model_cfg.get("inter_channels", 192)),
        hidden_channels=int(model_cfg.get("hidden_channels", 192)),
        filter_channels=int(model_cfg.get("filter_channels", 768)),
        n_heads=int(model_cfg.get("n_heads", 2)),
        n_layers=int(model_cfg.get("n_layers", 6)),
        kernel_size=int(model_cfg.get("kernel_size", 3)),
        dropout=float(model_cfg.get("p_dropout", 0.1)),
        resblock_kernel_sizes=kernel_sizes,
        resblock_dilations=list(dilations[0]),
        upsample_rates=list(model_cfg.get("upsample_rates", [10, 8, 2, 2, 2])),
        upsample_kernel_sizes=upsample_kernels,
        upsample_initial_channel=weight["dec.conv_pre.weight"].shape[0],
        gin_channels=gin,
        style_hidden=weight["ref_enc.spectral.0.fc.weight"].shape[0],
        posterior_layers=len(
            {k.split(".")[3] for k in weight if k.startswith("enc_q.enc.in_layers.")}
        )
        or 16,
        flow_count=len(flow_layers),
        n_speakers=int(model_cfg.get("n_speakers", 300)),
        harmonic_source="pitch.out.weight" in weight,
        smooth_upsampling="dec.ups.0.conv.bias" in weight,
        version=version,
        sv_dim=weight["sv_emb.weight"].shape[1] if "sv_emb.weight" in weight else 0,
        mrte_channels=0 if mrte == gin else mrte,
        discriminator_periods=load_size("v2", version).sovits.discriminator_periods,
    )


def gpt_official_config(size: GPTSize) -> dict[str, Any]:
    """The s1 YAML layout the official loader reads."""
    return {
        "model": {
            "vocab_size": size.semantic_vocab_size,
            "phoneme_vocab_size": size.phoneme_vocab_size,
            "embedding_dim": size.model_dim,
            "hidden_dim": size.model_dim,
            "head": size.num_heads,
            "linear_units": size.ffn_dim,
            "n_layer": size.num_layers,
            "dropout": 0,
            "EOS": size.eos_id,
            "random_bert": 0,
        },
        "data": {"max_sec": 54, "pad_val": size.eos_id},
        "inference": {"top_k": 15},
    }


def sovits_official_config(size: SoVITSSize) -> dict[str, Any]:
    """The s2.json layout the official loader reads (`hps.model`, `hps.data`)."""
    return {
        "train": {"segment_size": size.segment_samples},
        "data": {
            "sampling_rate": size.sample_rate,
            "filter_length": size.n_fft,
            "hop_length": size.hop_length,
            "win_length": size.win_length,
            "n_mel_channels": size.n_mels,
            "add_blank": False,
            "n_speakers": 300,
            "cleaned_text": True,
        },
        "model": {
            "inter_channels": size.inter_channels,
            "hidden_channels": size.hidden_channels,
            "filter_channels": size.filter_channels,
            "n_heads": size.n_heads,
            "n_layers": size.n_layers,
            "kernel_size": size.kernel_size,
            "p_dropout": size.dropout,
            "resblock": "1",
            "resblock_kernel_sizes": size.resblock_kernel_sizes,
            "resblock_dilation_sizes": [size.resblock_dilations] * len(size.resblock_kernel_sizes),
            "upsample_rates": size.upsample_rates,
            "upsample_initial_channel": size.upsample_initial_channel,
            "upsample_kernel_sizes": size.upsample_kernel_sizes,
            "n_layers_q": 3,
            "use_spectral_norm": False,
            "gin_channels": size.gin_channels,
            "semantic_frame_rate": "25hz",
            "freeze_quantizer": True,
            "version": size.version,
        },
    }


def export_gpt(model: SemanticGPT, path: Path, info: str = "GPT-e1") -> None:
    if not model.official_compatible:
        raise InputError(
            "this GPT uses the language-ID extension: the official tools cannot "
            "load it; train without it to export"
        )
    state = {k: v.detach().half().cpu() for k, v in gpt_to_official(model.state_dict()).items()}
    payload = {"weight": state, "config": gpt_official_config(model.size), "info": info}
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def export_sovits(
    model: SoVITSGenerator,
    path: Path,
    info: str = "1epoch_1iteration",
    *,
    with_posterior: bool = False,
) -> None:
    """`with_posterior=True` keeps `enc_q`: a base to fine-tune from, as the official
    pretrained s2G files are; inference weights drop it."""
    if not model.official_compatible:
        raise InputError(
            "this SoVITS uses F0 conditioning: the official tools cannot load "
            "it; train without it to export"
        )
    state = sovits_to_official(model.state_dict())
    state = {
        k: v.detach().half().cpu()
        for k, v in state.items()
        if with_posterior or not k.startswith("enc_q.")
    }
    payload = {"weight": state, "config": sovits_official_config(model.size), "info": info}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    raw = buffer.getvalue()
    assert raw[:2] == ZIP_MAGIC
    header = HEADER_OF_VERSION[model.size.version]
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(header + raw[2:]))


def export_discriminator(discriminator: torch.nn.Module, path: Path) -> None:
    """The SoVITS discriminator as the official pretrained s2D files hold it."""
    state = {k: v.detach().cpu() for k, v in discriminator.state_dict().items()}
    payload = {"weight": sovits_to_official(state), "info": "discriminator"}
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_discriminator_weights(path: Path, discriminator: torch.nn.Module) -> None:
    """An official (or our) s2D file into `discriminator`; a mismatch is one line."""
    state = _discriminator_state(path)
    count, built = _discriminator_count(state), len(discriminator.discriminators)
    if count != built:
        raise InputError(
            f"{path}: it holds {count} discriminators, this model {built} (v2 has 6; v2Pro "
            "and v2ProPlus 8, with periods 17 and 23): use the s2D file of its version"
        )
    expected = discriminator.state_dict()
    wrong = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    if wrong:
        raise InputError(
            f"{path}: its discriminator does not match this model size "
            f"(first differing weight: {wrong[0]})"
        )
    discriminator.load_state_dict(state, strict=True)


def load_official_discriminator(path: Path) -> MultiPeriodDiscriminator:
    """An official (or our) s2D file (v2 `s2D2333k.pth`, Pro `s2Dv2Pro.pth`, …) → a
    discriminator of the size and periods its weights have, in train mode."""
    state = _discriminator_state(path)
    count = _discriminator_count(state)
    periods = {
        len(size.discriminator_periods) + 1: size.discriminator_periods
        for size in (load_size("v2", version).sovits for version in SOVITS_VERSIONS)
    }
    if count not in periods:
        raise InputError(f"{path}: {count} discriminators; official files hold 6 (v2) or 8 (Pro)")
    last = state["discriminators.1.convs.4.parametrizations.weight.original1"]  # (1024 / d, …)
    discriminator = MultiPeriodDiscriminator(1024 // last.shape[0], periods=periods[count])
    discriminator.load_state_dict(state, strict=True)
    return discriminator


def _discriminator_state(path: Path) -> dict[str, torch.Tensor]:
    data, _ = read_checkpoint(path)
    weight = data.get("weight", {})
    if not any(k.startswith("discriminators.") for k in weight):
        raise InputError(f"{path}: not a SoVITS discriminator (s2D): no 'discriminators.*'")
    return sovits_from_official({k: v.float() for k, v in weight.items()})


def _discriminator_count(state: dict[str, torch.Tensor]) -> int:
    return len({key.split(".")[1] for key in state if key.startswith("discriminators.")})
