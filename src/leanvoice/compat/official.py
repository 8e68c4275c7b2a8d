"""Official GPT `.ckpt` and SoVITS `.pth` files: load into our models, export from them.

GPT: `{"weight": {"model.*": fp16}, "config": s1 YAML as a dict, "info": str}`.
SoVITS: `{"weight": state dict without enc_q, fp16, "config": {"model", "data", …},
"info": str}`, written with the 2-byte version code `01` (v2) in place of `PK`, so the
official WebUI detects the version from the header rather than from the file size.
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
from leanvoice.compat.safe_load import ZIP_MAGIC, read_checkpoint
from leanvoice.config.sizes import GPTSize, SoVITSSize
from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator

V2_HEADER = b"01"


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


def load_official_sovits(path: Path) -> tuple[SoVITSGenerator, dict[str, Any]]:
    """An official (or exported) SoVITS `.pth` → our generator in eval mode, and config."""
    data, _ = read_checkpoint(path)
    weight = data.get("weight", {})
    if "enc_p.text_embedding.weight" not in weight:
        raise InputError(f"{path}: not a SoVITS (stage 2) checkpoint: no 'enc_p.*' weights")
    config = data.get("config") or {}
    size = sovits_size_from_config(config, weight)
    model = SoVITSGenerator(size, with_posterior=any(k.startswith("enc_q.") for k in weight))
    state = sovits_from_official({k: v.float() for k, v in weight.items()})
    model.load_state_dict(state, strict=True)
    return model.eval(), config


def sovits_size_from_config(config: dict[str, Any], weight: dict[str, torch.Tensor]) -> SoVITSSize:
    model_cfg, data_cfg = config.get("model", {}), config.get("data", {})
    hop = int(data_cfg.get("hop_length", 640))
    kernel_sizes = list(model_cfg.get("resblock_kernel_sizes", [3, 7, 11]))
    dilations = model_cfg.get("resblock_dilation_sizes", [[1, 3, 5]] * len(kernel_sizes))
    flow_layers = [k for k in weight if k.startswith("flow.flows.") and k.endswith(".pre.weight")]
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
        upsample_kernel_sizes=list(model_cfg.get("upsample_kernel_sizes", [16, 16, 8, 2, 2])),
        upsample_initial_channel=int(model_cfg.get("upsample_initial_channel", 512)),
        gin_channels=int(model_cfg.get("gin_channels", 512)),
        style_hidden=weight["ref_enc.spectral.0.fc.weight"].shape[0],
        posterior_layers=len(
            {k.split(".")[3] for k in weight if k.startswith("enc_q.enc.in_layers.")}
        )
        or 16,
        flow_count=len(flow_layers),
        n_speakers=int(model_cfg.get("n_speakers", 300)),
        harmonic_source="pitch.out.weight" in weight,
        smooth_upsampling="dec.ups.0.conv.bias" in weight,
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
            "version": "v2",
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
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(V2_HEADER + raw[2:]))


def export_discriminator(discriminator: torch.nn.Module, path: Path) -> None:
    """The SoVITS discriminator as the official pretrained s2D files hold it."""
    state = {k: v.detach().cpu() for k, v in discriminator.state_dict().items()}
    payload = {"weight": sovits_to_official(state), "info": "discriminator"}
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_discriminator_weights(path: Path, discriminator: torch.nn.Module) -> None:
    """An official (or our) s2D file into `discriminator`; a mismatch is one line."""
    data, _ = read_checkpoint(path)
    weight = data.get("weight", {})
    if not any(k.startswith("discriminators.") for k in weight):
        raise InputError(f"{path}: not a SoVITS discriminator (s2D): no 'discriminators.*'")
    state = sovits_from_official({k: v.float() for k, v in weight.items()})
    expected = discriminator.state_dict()
    wrong = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    if wrong:
        raise InputError(
            f"{path}: its discriminator does not match this model size "
            f"(first differing weight: {wrong[0]})"
        )
    discriminator.load_state_dict(state, strict=True)
