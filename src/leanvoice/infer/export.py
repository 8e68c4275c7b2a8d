"""`leanvoice export` / `import`: training checkpoints ↔ the official v2 files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from leanvoice.compat.official import (
    HEADER_OF_VERSION,
    export_discriminator,
    export_gpt,
    export_sovits,
    load_official_gpt,
)
from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.config.sizes import load_size
from leanvoice.errors import InputError
from leanvoice.infer.models import load_gpt, load_sovits, stage_of
from leanvoice.models.sovits.discriminator import MultiPeriodDiscriminator
from leanvoice.train.checkpoint import MAIN_NETWORK, Checkpoint, NetworkState, write_checkpoint


def export_checkpoint(checkpoint: Path, out: Path) -> str:
    """A training (or imported) checkpoint → official file; returns what was written."""
    data, _ = read_checkpoint(checkpoint)
    stage = stage_of(data)
    step = Checkpoint.from_state(data, checkpoint).step if "stage" in data else 0
    lora = any("lora_" in key for key in data.get("model", {}))
    if stage == "gpt":
        model = load_gpt(checkpoint)
        export_gpt(model, out, info=f"LeanVoice step {step}")
        kind = "GPT (stage 1) .ckpt, official layout (the same in every version; fp16)"
    elif stage == "sovits" and "dit_dim" in data.get("size", {}):  # v3/v4 training checkpoint
        return _export_cfm(Checkpoint.from_state(data, checkpoint), out, step)
    elif stage == "sovits":
        model = load_sovits(checkpoint)
        export_sovits(model, out, info=f"LeanVoice step {step}")
        version = model.size.version
        header = HEADER_OF_VERSION[version].decode()
        kind = f"SoVITS (stage 2) .pth, official {version} layout (fp16, version header {header})"
        if model.pitch is not None:
            kind += ", with the tiny sizes' harmonic source (official tools lack it)"
    else:
        raise InputError(f"{checkpoint}: neither a GPT nor a SoVITS checkpoint")
    params = sum(p.numel() for p in model.parameters())
    merged = "LoRA adapters merged" if lora else "no LoRA adapters"
    return f"wrote {out}: {kind}; {params:,} parameters; {merged}"


def export_sovits_base(checkpoint: Path, generator_out: Path, discriminator_out: Path) -> str:
    """A SoVITS training checkpoint → a base to fine-tune from, as the official
    pretrained pair: s2G with its posterior encoder, and s2D (`model.sovits_init`,
    `model.sovits_d_init`)."""
    data, _ = read_checkpoint(checkpoint)
    if stage_of(data) != "sovits" or "stage" not in data:
        raise InputError(f"{checkpoint}: not a SoVITS training checkpoint")
    state = Checkpoint.from_state(data, checkpoint)
    if "discriminator" not in state.networks:
        raise InputError(f"{checkpoint}: holds no discriminator weights")
    generator = load_sovits(checkpoint, keep_posterior=True)
    info = f"LeanVoice base, step {state.step}"
    export_sovits(generator, generator_out, info=info, with_posterior=True)
    size_name = state.config.get("model", {}).get("size", "v2")
    discriminator = MultiPeriodDiscriminator(load_size(size_name).sovits.discriminator_divisor)
    discriminator.load_state_dict(state.networks["discriminator"].weights)
    export_discriminator(discriminator, discriminator_out)
    return f"wrote {generator_out} (s2G with enc_q) and {discriminator_out} (s2D)"


def import_official(official: Path, out: Path) -> str:
    """An official file → a LeanVoice checkpoint (`stage`, `size`, `model`) that
    synthesis, export and `model.gpt_init`-style loading read."""
    data, version = read_checkpoint(official)
    stage = stage_of(data)
    if stage == "gpt":
        model = load_official_gpt(official)[0]
    elif stage == "sovits":  # v2/v2Pro/v2ProPlus, or v3/v4 (full weights)
        model = load_sovits(official)
    else:
        raise InputError(f"{official}: neither a GPT nor a SoVITS checkpoint")
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    imported = Checkpoint(
        step=0,
        stage=stage,
        config={"memory": {"lora": {"rank": 0}}},
        size=dataclasses.asdict(model.size),
        extensions={},
        networks={MAIN_NETWORK[stage]: NetworkState(weights)},
    )
    write_checkpoint(Path(out), imported)
    tag = f"official version tag {version}" if version else "no version header"
    return f"wrote {out}: {stage} from {official} ({tag}); {len(weights)} tensors"


def _export_cfm(checkpoint: Checkpoint, out: Path, step: int) -> str:
    """A v3/v4/v5 run → the official LoRA file (header 03/04/07/08, what the official
    WebUI loads onto its pretrained s2Gv3/s2Gv4/s2Gv5*) when it trained adapters, else
    the full weights."""
    from leanvoice.compat.cfm import export_cfm_full, export_cfm_lora
    from leanvoice.compat.official import HEADER_OF_VERSION
    from leanvoice.memory.lora import apply_lora
    from leanvoice.models.cfm import CFMSize, CFMSoVITS

    size = CFMSize(**checkpoint.size)
    model = CFMSoVITS(size)
    weights = checkpoint.weights
    info = f"LeanVoice step {step}"
    if any("lora_" in key for key in weights):
        lora = checkpoint.lora
        rank, alpha = int(lora["rank"]), float(lora["alpha"])
        model = apply_lora(model, rank, alpha)
        model.load_state_dict(weights)
        export_cfm_lora(model, out, rank=rank, version=size.version, info=info)
        header = HEADER_OF_VERSION[f"{size.version}-lora"].decode()
        kind = f"official {size.version} LoRA file (rank {rank}, header {header})"
    else:
        model.load_state_dict(weights)
        export_cfm_full(model, out, version=size.version, info=info)
        kind = f"official {size.version} full weights"
    trained = sum(p.numel() for p in model.parameters())
    return f"wrote {out}: SoVITS (stage 2) {kind}; {trained:,} parameters"
