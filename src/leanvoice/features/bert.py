"""Chinese BERT features per phoneme: 1024-d (v2) character vectors of the third-to-last
hidden layer, each repeated by the character's phoneme count (`word2ph`), as the
official prepare does; other languages get zeros."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from leanvoice.errors import TextError
from leanvoice.features.local_models import (
    load_pretrained,
    require_model_dir,
    require_transformers,
)


class BertExtractor:
    def __init__(self, directory: Path, device: str = "cpu") -> None:
        require_transformers()
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        path = str(require_model_dir("bert", directory))
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = load_pretrained(AutoModelForMaskedLM, "bert", directory).to(device)
        self.model.eval()
        self.device = device

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def phoneme_features_batch(
        self, items: list[tuple[str, list[int] | None, int]]
    ) -> list[np.ndarray | TextError]:
        """Several (text, word2ph, n_phonemes) in one padded forward pass; a mismatch is
        returned as its TextError in place, so one bad clip does not stop the batch."""
        results: list[np.ndarray | TextError] = [
            np.zeros((self.dim, n), dtype=np.float32) for _, _, n in items
        ]
        mandarin = [i for i, (_, word2ph, _) in enumerate(items) if word2ph is not None]
        if not mandarin:
            return results
        texts = [items[i][0] for i in mandarin]
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        hidden = self.model(**inputs, output_hidden_states=True).hidden_states[-3]
        lengths = inputs["attention_mask"].sum(1).tolist()
        for row, index in enumerate(mandarin):
            text, word2ph, _ = items[index]
            results[index] = self._repeat(hidden[row, 1 : lengths[row] - 1], text, word2ph)
        return results

    def _repeat(
        self, hidden: torch.Tensor, text: str, word2ph: list[int]
    ) -> np.ndarray | TextError:
        if hidden.shape[0] != len(word2ph):
            return TextError(
                f"BERT tokens ({hidden.shape[0]}) do not match characters ({len(word2ph)}) "
                f"of {text!r}"
            )
        counts = torch.tensor(word2ph, device=hidden.device)
        features = hidden.repeat_interleave(counts, dim=0)  # (n_phonemes, dim)
        return features.transpose(0, 1).float().cpu().numpy()

    @torch.no_grad()
    def phoneme_features(
        self, normalized_text: str, word2ph: list[int] | None, n_phonemes: int
    ) -> np.ndarray:
        """[dim, n_phonemes]; zeros when there is no `word2ph` (non-Mandarin text)."""
        if word2ph is None:
            return np.zeros((self.dim, n_phonemes), dtype=np.float32)
        inputs = self.tokenizer(normalized_text, return_tensors="pt").to(self.device)
        hidden = self.model(**inputs, output_hidden_states=True).hidden_states[-3][0, 1:-1]
        result = self._repeat(hidden, normalized_text, word2ph)
        if isinstance(result, TextError):
            raise result
        return result
