"""Load transformers models from a local folder only: no network at run time."""

from __future__ import annotations

from pathlib import Path

from leanvoice.errors import LeanVoiceError

DOWNLOAD_HINTS = {
    "hubert": "chinese-hubert-base (GPT-SoVITS pretrained_models/chinese-hubert-base)",
    "bert": "chinese-roberta-wwm-ext-large "
    "(GPT-SoVITS pretrained_models/chinese-roberta-wwm-ext-large)",
}


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
