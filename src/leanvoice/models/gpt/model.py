"""The GPT-SoVITS v2 text-to-semantic decoder (stage 1), written to be read in one sitting.

Phonemes (+ projected BERT features) and semantic codes are embedded separately, each
with its own sinusoidal positions, concatenated, and run through a post-norm
transformer. Phonemes see all phonemes and no code; codes see all phonemes and the
codes before them. The last phoneme predicts the first code, each code the next one,
and the last code predicts EOS.

Differences from the official training forward (by design, see docs/design.md):
phonemes are right-padded *and* masked as right-padded (the official code masks them as
left-padded), and the first code is predicted from each sample's own last phoneme.
With equal phoneme lengths in a batch both are identical to the official output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leanvoice.config.sizes import GPTSize
from leanvoice.models.gpt.layers import (
    LayerStack,
    ScaledSinePositions,
    SelfAttention,
    TokenEmbedding,
    TransformerLayer,
)
from leanvoice.models.gpt.losses import dpo_loss, make_rejected_codes, sequence_log_probs


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths → (B, max_len) bool, True at real (non-pad) positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class SemanticGPT(nn.Module):
    """Official keys: `bert_proj`, `ar_text_embedding`, `ar_text_position`,
    `ar_audio_embedding`, `ar_audio_position`, `h.layers.N`, `ar_predict_layer`."""

    def __init__(self, size: GPTSize, *, num_languages: int = 0) -> None:
        super().__init__()
        self.size = size
        dim = size.model_dim
        self.bert_proj = nn.Linear(size.bert_dim, dim)
        self.ar_text_embedding = TokenEmbedding(size.phoneme_vocab_size, dim)
        self.ar_text_position = ScaledSinePositions(dim, dropout=0.1)
        self.ar_audio_embedding = TokenEmbedding(size.semantic_vocab_size, dim)
        self.ar_audio_position = ScaledSinePositions(dim, dropout=0.1)
        self.h = LayerStack(
            [
                TransformerLayer(dim, size.num_heads, size.ffn_dim, size.dropout)
                for _ in range(size.num_layers)
            ]
        )
        self.ar_predict_layer = nn.Linear(dim, size.semantic_vocab_size, bias=False)
        # Opt-in extension for training from scratch (not in official checkpoints).
        self.language_embedding = nn.Embedding(num_languages, dim) if num_languages else None

    @property
    def eos_id(self) -> int:
        return self.size.eos_id

    @property
    def official_compatible(self) -> bool:
        return self.language_embedding is None

    def use_official_attention(self, on: bool = True) -> None:
        """Compute attention as the official code does (materialised scores and float
        masks) instead of SDPA: same outputs, the official recipe's memory and speed."""
        for module in self.modules():
            if isinstance(module, SelfAttention):
                module.materialise = on

    # -- named groups: what memory/ (freeze, LoRA, checkpointing, offload, compile) targets
    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        """Group → the modules whose parameters it holds; each parameter is in one group."""
        embeddings = ("bert_proj", "ar_text_embedding", "ar_text_position")
        embeddings += ("ar_audio_embedding", "ar_audio_position")
        if self.language_embedding is not None:
            embeddings += ("language_embedding",)
        return {"embeddings": embeddings, "layers": ("h",), "head": ("ar_predict_layer",)}

    def block_names(self) -> dict[str, list[str]]:
        """Group → its repeatable blocks (checkpointing, offload and compile wrap these)."""
        return {"layers": [f"h.layers.{i}" for i in range(len(self.h.layers))]}

    def lora_targets(self) -> dict[str, tuple[str, ...]]:
        """Group → the last names of its modules that get LoRA adapters: each layer's
        packed attention and FFN."""
        return {"layers": ("self_attn", "linear1", "linear2")}

    # -- inputs ---------------------------------------------------------------------------
    def embed_phonemes(
        self,
        phoneme_ids: torch.Tensor,  # (B, T_x)
        bert_features: torch.Tensor,  # (B, bert_dim, T_x)
        language_ids: torch.Tensor | None = None,  # (B, T_x), only with the extension
    ) -> torch.Tensor:
        x = self.ar_text_embedding(phoneme_ids) + self.bert_proj(bert_features.transpose(1, 2))
        if self.language_embedding is not None:
            if language_ids is None:
                raise ValueError("this GPT has a language embedding: pass language_ids")
            x = x + self.language_embedding(language_ids)
        return self.ar_text_position(x)  # (B, T_x, dim)

    def embed_codes(self, codes: torch.Tensor, offset: int = 0) -> torch.Tensor:
        return self.ar_audio_position(self.ar_audio_embedding(codes), offset)  # (B, T_y, dim)

    @staticmethod
    def attention_mask(x_real: torch.Tensor, y_real: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, T) bool, True where a query may attend a key; T = T_x + T_y."""
        t_x, t_y = x_real.shape[1], y_real.shape[1]
        device = x_real.device
        x_rows = torch.cat(
            [
                torch.ones(t_x, t_x, dtype=torch.bool, device=device),
                torch.zeros(t_x, t_y, dtype=torch.bool, device=device),
            ],
            dim=1,
        )
        y_rows = torch.cat(
            [
                torch.ones(t_y, t_x, dtype=torch.bool, device=device),
                torch.ones(t_y, t_y, dtype=torch.bool, device=device).tril(),
            ],
            dim=1,
        )
        structure = torch.cat([x_rows, y_rows], dim=0)  # (T, T)
        keys_real = torch.cat([x_real, y_real], dim=1)  # (B, T)
        return structure[None, None] & keys_real[:, None, None, :]

    # -- training -------------------------------------------------------------------------
    def teacher_forced_logits(
        self,
        phoneme_ids: torch.Tensor,  # (B, T_x) right-padded
        phoneme_lens: torch.Tensor,  # (B,)
        bert_features: torch.Tensor,  # (B, bert_dim, T_x)
        codes: torch.Tensor,  # (B, T_y) right-padded
        code_lens: torch.Tensor,  # (B,)
        language_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T_y + 1, vocab): position 0 predicts the first code, the last EOS."""
        t_x, t_y = phoneme_ids.shape[1], codes.shape[1]
        x_real = lengths_to_mask(phoneme_lens, t_x)
        y_real = lengths_to_mask(code_lens, t_y)
        decoder_input = codes.masked_fill(~y_real, self.eos_id)  # pads read as EOS (official)
        xy = torch.cat(
            [
                self.embed_phonemes(phoneme_ids, bert_features, language_ids),
                self.embed_codes(decoder_input),
            ],
            dim=1,
        )
        hidden = self.h(xy, self.attention_mask(x_real, y_real))  # (B, T_x + T_y, dim)
        last_phoneme = hidden[torch.arange(len(phoneme_lens)), phoneme_lens - 1]  # (B, dim)
        hidden = torch.cat([last_phoneme[:, None], hidden[:, t_x:]], dim=1)  # (B, T_y+1, dim)
        return self.ar_predict_layer(hidden)

    def targets(self, codes: torch.Tensor, code_lens: torch.Tensor) -> torch.Tensor:
        """(B, T_y + 1): the codes, then EOS; positions past each length are EOS too."""
        padded = F.pad(codes, (0, 1), value=self.eos_id)
        real = lengths_to_mask(code_lens, padded.shape[1])
        return padded.masked_fill(~real, self.eos_id)

    def loss(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_lens: torch.Tensor,
        bert_features: torch.Tensor,
        codes: torch.Tensor,
        code_lens: torch.Tensor,
        *,
        count_padding: bool = True,
        dpo: bool = False,
        language_ids: torch.Tensor | None = None,
        with_accuracy: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(loss, top-3 accuracy or None, number of target tokens) — cross entropy summed
        over tokens. The accuracy (an extra top-k over every logit) only with
        `with_accuracy`, for whoever reports it.

        `count_padding=True` is the official loss: positions past a sample's EOS are
        trained to predict EOS again, so the loss depends on how the batch was padded.
        `False` sums over real targets only (codes + one EOS), which makes accumulated
        dynamic batches equal to one big batch. `dpo=True` adds the official v2 DPO-style
        loss against a corrupted (repeated or cut) copy of the codes.
        """
        logits = self.teacher_forced_logits(
            phoneme_ids, phoneme_lens, bert_features, codes, code_lens, language_ids
        )
        targets = self.targets(codes, code_lens)
        weight = lengths_to_mask(code_lens + 1, targets.shape[1])
        if count_padding:
            weight = torch.ones_like(weight)
        token_losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        loss = (token_losses * weight).sum()
        accuracy = None
        if with_accuracy:
            accuracy = top_k_accuracy(logits.detach(), targets, weight, self.eos_id, k=3)
        if dpo:
            rejected, rejected_lens = make_rejected_codes(codes, code_lens)
            rejected_logits = self.teacher_forced_logits(
                phoneme_ids, phoneme_lens, bert_features, rejected, rejected_lens, language_ids
            )
            chosen_lp = sequence_log_probs(logits, targets)
            rejected_lp = sequence_log_probs(rejected_logits, self.targets(rejected, rejected_lens))
            loss = loss + dpo_loss(chosen_lp, rejected_lp, beta=0.2)
        return loss, accuracy, weight.sum()

    # -- inference ------------------------------------------------------------------------
    def prefill(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_lens: torch.Tensor,
        bert_features: torch.Tensor,
        prompt_codes: torch.Tensor,  # (B, P), P may be 0
        language_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[list[torch.Tensor]], torch.Tensor]:
        """Run phonemes + prompt once: (last-position logits, KV cache, key mask)."""
        t_x, t_p = phoneme_ids.shape[1], prompt_codes.shape[1]
        x_real = lengths_to_mask(phoneme_lens, t_x)
        y_real = torch.ones(len(phoneme_ids), t_p, dtype=torch.bool, device=phoneme_ids.device)
        xy = torch.cat(
            [
                self.embed_phonemes(phoneme_ids, bert_features, language_ids),
                self.embed_codes(prompt_codes),
            ],
            dim=1,
        )
        allowed = self.attention_mask(x_real, y_real)
        cache = []
        for layer in self.h.layers:
            xy, kv = layer.forward_cached(xy, allowed, None)
            cache.append(kv)
        # with a prompt the last prompt code predicts next; without, the last phoneme
        last = xy[:, -1] if t_p else xy[torch.arange(len(phoneme_lens)), phoneme_lens - 1]
        keys_real = torch.cat([x_real, y_real], dim=1)
        return self.ar_predict_layer(last), cache, keys_real

    def decode_step(
        self,
        codes: torch.Tensor,  # (B, 1) the newest code
        position: int,  # its index among the codes
        cache: list[list[torch.Tensor]],
        keys_real: torch.Tensor,  # (B, T_cache + 1)
    ) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
        """One incremental step: logits for the next code, and the grown cache."""
        x = self.embed_codes(codes, offset=position)
        allowed = keys_real[:, None, None, :]  # (B, 1, 1, T)
        new_cache = []
        for layer, kv in zip(self.h.layers, cache, strict=True):
            x, kv = layer.forward_cached(x, allowed, kv)
            new_cache.append(kv)
        return self.ar_predict_layer(x[:, -1]), new_cache

    def next_logits_uncached(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_lens: torch.Tensor,
        bert_features: torch.Tensor,
        codes: torch.Tensor,  # (B, T_y), all real
        language_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-code logits by recomputing everything (the reference for the KV cache)."""
        lens = torch.full((len(codes),), codes.shape[1], device=codes.device)
        logits = self.teacher_forced_logits(
            phoneme_ids, phoneme_lens, bert_features, codes, lens, language_ids
        )
        return logits[:, -1]


def top_k_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, ignore: int, k: int
) -> torch.Tensor:
    """Share of counted, non-`ignore` targets found in the top k logits (official metric)."""
    top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices  # (B, T, k)
    hit = (top == targets[..., None]).any(-1)
    counted = weight.bool() & (targets != ignore)
    return (hit & counted).sum() / counted.sum().clamp(min=1)
