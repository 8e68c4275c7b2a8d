"""Sampling semantic codes from the GPT with a KV cache, batched, stopping at EOS.

Logit processing follows the official order: repetition penalty over the codes so far
(prompt included), top-p, temperature, top-k, softmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from leanvoice.models.gpt.model import SemanticGPT


@dataclass
class SamplingConfig:
    top_k: int = 15  # official default; 1 = greedy
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    max_new_tokens: int = 1500  # 60 s of speech at 25 codes/s
    min_new_tokens: int = 1  # EOS is masked before this many codes (the official: 1)


# synthesis and auditions: a sentence is 0.6-1.8 × the codes the reference's rate gives its
# phonemes, and never more than 10 codes per phoneme (+1 s)
MIN_LENGTH, MAX_LENGTH, MAX_CODES_PER_PHONEME = 0.6, 1.8, 10.0


def length_bounded(
    cfg: SamplingConfig,
    phonemes: int,
    codes_per_phoneme: float,
    min_length: float,
    max_length: float,
    max_codes_per_phoneme: float,
) -> SamplingConfig:
    """`cfg` with minimum and maximum new codes for a sentence of `phonemes`, from a
    reference's speaking rate (its codes per phoneme): at least `min_length` and at most
    `max_length` × the expected codes (0 turns a bound off), never above
    `max_codes_per_phoneme` per phoneme + 1 s. Codes are at speed 1: the decoder applies
    any speed change afterwards."""
    expected = phonemes * codes_per_phoneme
    longest = min(cfg.max_new_tokens, int(max_codes_per_phoneme * phonemes) + 25)
    if max_length > 0:
        longest = min(longest, max(math.ceil(max_length * expected), 1))
    shortest = max(int(min_length * expected), 1) if min_length > 0 else 1
    return replace(cfg, max_new_tokens=longest, min_new_tokens=min(shortest, longest))


def process_logits(
    logits: torch.Tensor, previous: torch.Tensor | None, cfg: SamplingConfig
) -> torch.Tensor:
    """(B, V) logits → (B, V) probabilities."""
    logits = logits.float().clone()
    if previous is not None and previous.numel() and cfg.repetition_penalty != 1.0:
        score = logits.gather(1, previous)
        score = torch.where(
            score < 0, score * cfg.repetition_penalty, score / cfg.repetition_penalty
        )
        logits.scatter_(1, previous, score)
    if cfg.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cumulative > cfg.top_p
        drop_sorted[:, 0] = False  # keep at least the best
        drop = drop_sorted.scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    logits = logits / max(cfg.temperature, 1e-5)
    if cfg.top_k > 0:
        kth = logits.topk(min(cfg.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.softmax(-1)


@torch.no_grad()
def generate(
    model: SemanticGPT,
    phoneme_ids: torch.Tensor,  # (B, T_x) right-padded
    phoneme_lens: torch.Tensor,  # (B,)
    bert_features: torch.Tensor,  # (B, bert_dim, T_x)
    prompt_codes: torch.Tensor,  # (B, P): the reference's codes (same length in a batch)
    cfg: SamplingConfig | None = None,
    *,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    language_ids: torch.Tensor | None = None,  # (B, T_x), models with the language embedding
) -> list[torch.Tensor]:
    """New codes per sample (without the prompt and without EOS)."""
    cfg = cfg or SamplingConfig()
    eos = model.eos_id
    batch = len(phoneme_ids)
    codes = prompt_codes.clone()
    finished = torch.zeros(batch, dtype=torch.bool, device=codes.device)
    ends = [cfg.max_new_tokens] * batch
    logits, cache, keys_real = model.prefill(
        phoneme_ids, phoneme_lens, bert_features, codes, language_ids
    )
    for step in range(cfg.max_new_tokens):
        if step < cfg.min_new_tokens:  # the first code may never be EOS (official)
            logits = logits.clone()
            logits[:, eos] = float("-inf")
        probs = process_logits(logits, codes if codes.shape[1] else None, cfg)
        if cfg.top_k == 1:
            nxt = probs.argmax(-1, keepdim=True)
        else:
            nxt = torch.multinomial(probs, 1, generator=generator)
        stop = (nxt[:, 0] == eos) | (logits.argmax(-1) == eos)
        for row in torch.nonzero(stop & ~finished).flatten().tolist():
            ends[row] = step
        finished |= stop
        if bool(finished.all()):
            break
        codes = torch.cat([codes, nxt.masked_fill(finished[:, None], eos)], dim=1)
        if use_cache:
            keys_real = torch.cat([keys_real, ~finished[:, None]], dim=1)
            keys_real[:, -1] = True  # a finished row keeps decoding harmlessly; never empty
            logits, cache = model.decode_step(codes[:, -1:], codes.shape[1] - 1, cache, keys_real)
        else:
            logits = model.next_logits_uncached(
                phoneme_ids, phoneme_lens, bert_features, codes, language_ids
            )
    start = prompt_codes.shape[1]
    return [codes[row, start : start + ends[row]] for row in range(batch)]
