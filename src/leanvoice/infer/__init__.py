"""Synthesis API.

from leanvoice.infer import load_synthesizer, SynthesisOptions
synth = load_synthesizer("gpt.ckpt", "sovits.pth", hubert="chinese-hubert-base",
                         bert="chinese-roberta-wwm-ext-large")
samples = synth.synthesize("ref.wav", "参考音频的文字。", "要说的话。", SynthesisOptions())
"""

from __future__ import annotations

from pathlib import Path

from leanvoice.compat.vocoders import load_official_vocoder
from leanvoice.errors import InputError
from leanvoice.features.bert import BertExtractor
from leanvoice.features.ssl import SSLExtractor
from leanvoice.infer.cfm_voice import OFFICIAL_VOCODERS
from leanvoice.infer.models import load_gpt, load_sovits
from leanvoice.infer.synthesize import SynthesisOptions, Synthesizer
from leanvoice.models.cfm import CFMSoVITS

TINY_SV_FILE = "sv.ckpt"  # `prepare --tiny-features --sv tiny` writes it in tiny_models/
# `prepare --tiny-features` writes a tiny vocoder of each version there
TINY_VOCODERS = {
    "v3": "bigvgan",
    "v4": "vocoder.pth",
    "v5dev": "vocoder.pth",
    "v5turbo": "vocoder.pth",
}

__all__ = ["SynthesisOptions", "Synthesizer", "load_gpt", "load_sovits", "load_synthesizer"]


def load_synthesizer(
    gpt: Path,
    sovits: Path,
    *,
    hubert: Path | None = None,
    bert: Path | None = None,
    feature_models: Path | None = None,
    sv: Path | None = None,
    vocoder: Path | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> Synthesizer:
    """`feature_models`: a folder holding `hubert/` and `bert/` (as `prepare
    --tiny-features` writes under DATA/tiny_models); or give `hubert` and `bert`.
    `sv`: the speaker-verification model a v2Pro/v2ProPlus SoVITS needs (the official
    pretrained_eres2netv2w24s4ep4.ckpt; with `feature_models`, its tiny `sv.ckpt`).
    `vocoder`: what a v3/v4 SoVITS speaks through (v3: the BigVGAN folder
    models--nvidia--bigvgan_v2_24khz_100band_256x; v4: gsv-v4-pretrained/vocoder.pth; with
    `feature_models`, its tiny `bigvgan/` or `vocoder.pth`)."""
    if feature_models is not None:
        hubert = hubert or Path(feature_models) / "hubert"
        bert = bert or Path(feature_models) / "bert"
    if hubert is None or bert is None:
        raise InputError(
            "synthesis needs the HuBERT and BERT models: give --hubert and "
            "--bert, or --feature-models DIR"
        )
    sovits_model = load_sovits(Path(sovits))
    speaker, mel_vocoder = None, None
    if isinstance(sovits_model, CFMSoVITS):
        version = sovits_model.size.version
        vocoder = vocoder or _tiny_model(feature_models, TINY_VOCODERS[version])
        if vocoder is None:
            raise InputError(
                f"{sovits}: a {version} SoVITS makes mels: give --vocoder "
                f"({OFFICIAL_VOCODERS[version]})"
            )
        mel_vocoder = load_official_vocoder(Path(vocoder))
    elif sovits_model.size.sv_dim:
        from leanvoice.features.sv import SpeakerEmbedder

        sv = sv or _tiny_model(feature_models, TINY_SV_FILE)
        if sv is None:
            raise InputError(
                f"{sovits}: a {sovits_model.size.version} SoVITS speaks with the reference's "
                "speaker embedding: give --sv (the official pretrained_eres2netv2w24s4ep4.ckpt)"
            )
        speaker = SpeakerEmbedder(Path(sv), device)
    return Synthesizer(
        load_gpt(Path(gpt)),
        sovits_model,
        SSLExtractor(Path(hubert), device),
        BertExtractor(Path(bert), device),
        device=device,
        precision=precision,
        speaker=speaker,
        vocoder=mel_vocoder,
    )


def _tiny_model(feature_models: Path | None, name: str) -> Path | None:
    """`feature_models/name` when that folder holds it (`prepare --tiny-features`)."""
    path = Path(feature_models) / name if feature_models is not None else None
    return path if path is not None and path.exists() else None
