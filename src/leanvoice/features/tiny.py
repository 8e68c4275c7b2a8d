"""Built-in tiny random HuBERT and BERT for tests and the demo.

They are written to a folder with `save_pretrained` and loaded back through the same
code as the real models, so the loading path is exercised without any download.
"""

from __future__ import annotations

from pathlib import Path

import torch

from leanvoice.features.local_models import require_transformers

TINY_SSL_DIM = 64
TINY_BERT_DIM = 32
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_PUNCTUATION = list("!?…,.-")


def build_tiny_hubert(directory: Path, seed: int = 0, hidden_size: int = TINY_SSL_DIM) -> Path:
    """A 2-layer HuBERT; `hidden_size=768` gives the official width (for v2-size tests)."""
    require_transformers()
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    HubertModel(config).save_pretrained(str(directory))
    return Path(directory)


def build_tiny_bert(
    directory: Path, characters: str, seed: int = 0, hidden_size: int = TINY_BERT_DIM
) -> Path:
    """A 3-layer BERT whose vocabulary is `characters` (one token per CJK character);
    `hidden_size=1024` gives the official width (for v2-size tests)."""
    require_transformers()
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for c in characters if not c.isspace()} - set(_PUNCTUATION))
    vocab = [*_SPECIAL, *_PUNCTUATION, *chars]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertForMaskedLM(config).save_pretrained(str(directory))
    BertTokenizer(str(directory / "vocab.txt")).save_pretrained(str(directory))
    return directory
