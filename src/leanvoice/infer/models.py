"""Load either stage from any file a user has: a LeanVoice training checkpoint (LoRA
adapters merged on load), a file exported by `leanvoice export`, or an official
GPT `.ckpt` / SoVITS `.pth`. A file of the other stage is a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leanvoice.compat.official import load_official_gpt
from leanvoice.compat.safe_load import read_checkpoint
from leanvoice.config.sizes import GPTSize, SoVITSSize
from leanvoice.errors import InputError
from leanvoice.models.cfm import CFMSize, CFMSoVITS
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.train.checkpoint import Checkpoint


def stage_of(data: dict[str, Any]) -> str | None:
    if "stage" in data:
        return str(data["stage"])
    weight = data.get("weight", {})
    if any(k.startswith("model.") for k in weight):
        return "gpt"
    if "enc_p.text_embedding.weight" in weight:
        return "sovits"
    return None


def _check_stage(path: Path, data: dict[str, Any], wanted: str) -> None:
    stage = stage_of(data)
    names = {"gpt": "GPT (stage 1)", "sovits": "SoVITS (stage 2)"}
    if stage is None:
        raise InputError(f"{path}: neither a GPT nor a SoVITS checkpoint")
    if stage != wanted:
        raise InputError(
            f"{path}: this is a {names[stage]} checkpoint; a {names[wanted]} one is needed here"
        )


def _merged_from_training(model, checkpoint: Checkpoint, stage: str, path: Path):
    """Our training checkpoint: rebuild the adapters it was trained with, load, merge."""
    from leanvoice.memory.lora import apply_lora, merge_lora

    lora = checkpoint.lora
    state = checkpoint.weights
    if any("lora_" in key for key in state):
        if lora.get("quantize_base"):
            raise InputError(
                f"{path}: QLoRA checkpoints (4-bit base) cannot be loaded for "
                "synthesis yet; export them on the training machine"
            )
        # the targets each model declares (memory/lora.py: lora_targets())
        model = apply_lora(model, int(lora["rank"]), float(lora["alpha"]))
        _load(model, state, path)
        return merge_lora(model).eval()
    _load(model, state, path)
    return model.eval()


def _load(model, state: dict[str, Any], path: Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0][:200]
        raise InputError(f"{path}: weights do not fit the model ({first})") from None


def load_gpt(path: Path) -> SemanticGPT:
    path = Path(path)
    data, _ = read_checkpoint(path)
    _check_stage(path, data, "gpt")
    if "stage" not in data:
        return load_official_gpt(path)[0]
    checkpoint = Checkpoint.from_state(data, path)
    languages = int(checkpoint.extensions.get("num_languages", 0))
    model = SemanticGPT(GPTSize(**checkpoint.size), num_languages=languages)
    return _merged_from_training(model, checkpoint, "gpt", path)


def load_sovits(path: Path, *, keep_posterior: bool = False) -> SoVITSGenerator | CFMSoVITS:
    """`keep_posterior`: keep a training checkpoint's `enc_q` (to export a base). A v3/v4
    file or checkpoint gives the flow-matching model."""
    path = Path(path)
    data, _ = read_checkpoint(path)
    _check_stage(path, data, "sovits")
    if "stage" not in data:
        from leanvoice.compat.cfm import load_any_official_sovits

        return load_any_official_sovits(path)
    checkpoint = Checkpoint.from_state(data, path)
    if "dit_dim" in checkpoint.size:  # a v3/v4 training checkpoint
        model = CFMSoVITS(CFMSize(**checkpoint.size))
        return _merged_from_training(model, checkpoint, "cfm", path)
    size = SoVITSSize(**checkpoint.size)
    posterior = any(key.startswith("enc_q.") for key in checkpoint.weights)
    f0 = bool(checkpoint.extensions.get("f0_conditioning", False))
    model = SoVITSGenerator(size, with_posterior=posterior, f0_conditioning=f0)
    model = _merged_from_training(model, checkpoint, "sovits", path)
    if not keep_posterior:
        model.enc_q = None  # inference needs no posterior encoder
    return model
