"""Freeze parameter groups by name (`memory.freeze`), e.g. `[sovits, gpt.embeddings]`."""

from __future__ import annotations

from torch import nn

from leanvoice.errors import ConfigError

# group → submodule prefixes, per model
# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gpt": ("gpt", ("",)),
    "gpt.embeddings": ("gpt", ("bert_proj", "ar_text_embedding", "ar_text_position",
                               "ar_audio_embedding", "ar_audio_position")),
    "gpt.layers": ("gpt", ("h.",)),
    "gpt.head": ("gpt", ("ar_predict_layer",)),
    "sovits": ("sovits", ("",)),
    "sovits.text_encoder": ("sovits", ("enc_p.",)),
    "sovits.decoder": ("sovits", ("dec.",)),
    "sovits.flow": ("sovits", ("flow.",)),
    "sovits.posterior": ("sovits", ("enc_q.",)),
    "sovits.style": ("sovits", ("ref_enc.",)),
    "sovits.quantizer": ("sovits", ("ssl_proj", "quantizer.")),
}  # fmt: skip


def freeze_groups(models: dict[str, nn.Module], groups: list[str]) -> int:
    """Set requires_grad=False on the named groups of `models` ({"gpt": …, "sovits": …}).

    Groups of a model that is not given are skipped (a GPT run with `freeze: [sovits]`);
    returns the number of parameters frozen.
    """
    frozen = 0
    for group in groups:
        if group not in GROUPS:
            raise ConfigError(
                f"memory.freeze: unknown group {group!r}; valid groups: {', '.join(GROUPS)}"
            )
        model_name, prefixes = GROUPS[group]
        model = models.get(model_name)
        if model is None:
            continue
        for name, parameter in model.named_parameters():
            if name.startswith(prefixes) and parameter.requires_grad:
                parameter.requires_grad_(False)
                frozen += parameter.numel()
    return frozen
