"""Load transformers models from a local folder only: no network at run time, and no
code from a pickle (`pytorch_model.bin` is read through our restricted loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leanvoice.errors import LeanVoiceError

DOWNLOAD_HINTS = {
    "hubert": "chinese-hubert-base (GPT-SoVITS pretrained_models/chinese-hubert-base)",
    "bert": "chinese-roberta-wwm-ext-large "
    "(GPT-SoVITS pretrained_models/chinese-roberta-wwm-ext-large)",
}

SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")  # one file, or shards
PICKLED = "pytorch_model.bin"


class FeatureModelError(LeanVoiceError):
    """A feature model folder is missing or incomplete."""


def require_model_dir(kind: str, directory: Path) -> Path:
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FeatureModelError(
            f"{directory}: no {kind} model here (config.json missing); download "
            f"{DOWNLOAD_HINTS[kind]} into this folder, or use the built-in tiny models "
            "(`leanvoice prepare … --tiny-features`) for a test run"
        )
    return directory


def require_transformers() -> None:
    try:
        import transformers
    except ImportError:
        raise FeatureModelError(
            "feature extraction needs `transformers`: pip install 'transformers>=4.40'"
        ) from None
    transformers.utils.logging.disable_progress_bar()  # our own progress display is enough


def load_pretrained(model_class: Any, kind: str, directory: Path) -> Any:
    """`model_class` (a transformers class) from the local folder `directory`: weights from
    `model.safetensors` when there is one, else from `pytorch_model.bin` (the official
    chinese-hubert-base ships only that) read by `compat.safe_load`, which refuses a
    pickle that names anything but tensors and plain containers, in one line."""
    from leanvoice.compat.safe_load import read_checkpoint

    directory = require_model_dir(kind, directory)
    require_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    if any((directory / name).is_file() for name in SAFETENSORS):
        return model_class.from_pretrained(
            str(directory), config=config, local_files_only=True, use_safetensors=True
        )
    pickled = directory / PICKLED
    if not pickled.is_file():
        raise FeatureModelError(
            f"{directory}: no {kind} weights here ({' or '.join((*SAFETENSORS, PICKLED))} "
            f"missing); download {DOWNLOAD_HINTS[kind]} into this folder"
        )
    weights, _ = read_checkpoint(pickled)
    return model_class.from_pretrained(None, config=config, state_dict=weights)
