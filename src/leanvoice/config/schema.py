"""The one config object that flows from the CLI to every part of LeanVoice.

Defaults live here only. Presets (presets/*.yaml) and `key=value` overrides change them;
unknown keys are errors (see loader.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["auto", "fp32", "bf16", "fp16"]
OptimizerKind = Literal[
    "auto", "adamw", "adamw8bit", "adamw_in_backward", "adamw_cpu_offload", "scaled_adam"
]
# memory.checkpoint: one rule for every block group, or `group:rule` pairs separated by
# commas (memory/checkpointing.py says what each rule picks)
CHECKPOINT_RULE = r"none|all|selective|every:[1-9]\d*|count:\d+"
_GROUP_RULE = rf"[a-z_][a-z0-9_]*:(?:{CHECKPOINT_RULE})"
CHECKPOINT_POLICY_PATTERN = re.compile(
    rf"^(?:{CHECKPOINT_RULE}|{_GROUP_RULE}(?:\s*,\s*{_GROUP_RULE})*)$"
)


@dataclass
class ModelConfig:
    size: Literal["tiny", "v2"] = "v2"  # v2 = the official size of the chosen version
    # the SoVITS version (the GPT is the same model in every version): v2, or the official
    # recommendation v2Pro / v2ProPlus (a speaker-verification embedding: prepare --sv)
    # v4 / v3 / v5dev / v5turbo: the flow-matching SoVITS (models/cfm), trained without
    # a discriminator (v5: the v4 model without the step-size embedding, see design.md)
    version: Literal["v2", "v2Pro", "v2ProPlus", "v3", "v4", "v5dev", "v5turbo"] = "v2"
    gpt_init: str = ""  # official GPT .ckpt (or exported) to start from; "" = random init
    sovits_init: str = ""  # official SoVITS .pth (s2G) to start from; "" = the dataset's
    # own (prepared with --tiny-features) or random init
    sovits_d_init: str = ""  # official SoVITS discriminator .pth (s2D) to start from
    # extensions for training from scratch; they change the state dict, so the official
    # code cannot load the result (export refuses them)
    language_embedding: bool = False  # GPT: a language-ID embedding added to the phonemes
    f0_conditioning: bool = False  # SoVITS: log-F0 per frame added to its text encoder


@dataclass
class DataConfig:
    max_sec: float = 15.0  # prepare slices clips to at most this; training caps samples to it
    max_tokens: int = 6000  # GPT batch budget: phonemes + semantic tokens, padding counted
    max_frames: int = 4000  # SoVITS batch budget, padding counted: 50 Hz frames (v3/v4: mel)
    # at most this many clips per batch (0: no cap). The SoVITS decoder trains on a
    # fixed-length slice of every clip, so its memory grows with the clip count, not the
    # frames: a frames budget alone lets a batch of short clips outgrow the card.
    max_clips: int = 0
    # held out of training to measure `valid_loss` on (data/held_out.py: the same clips
    # for both stages and every seed); 0 = none (official), or use `train --valid D`
    valid_fraction: float = 0.0


@dataclass
class SlicerConfig:
    """Silence slicer; defaults are the official tools/slicer2.py values."""

    threshold_db: float = -34.0  # frames quieter than this (RMS, dBFS) count as silence
    min_interval_ms: int = 300  # a silence must last this long to be a cut point
    hop_ms: int = 10
    max_silence_kept_ms: int = 500  # silence kept around a cut (split between both sides)


@dataclass
class PrepareConfig:
    sample_rate: int = 32000
    min_sec: float = 0.5  # shorter clips are skipped: too short to learn from
    target_rms_db: float = -20.0  # loudness normalisation target for speech frames
    peak_limit: float = 0.95  # normalisation never pushes a sample above this
    silence_peak_db: float = -50.0  # a file whose peak is below this is reported as silent
    workers: int = 1
    # a clip whose transcript needs fewer or more phonemes per second than this does not
    # match its audio (a wrong line, a cut file): it is skipped with that reason
    min_phonemes_per_sec: float = 3.0
    max_phonemes_per_sec: float = 25.0
    slicer: SlicerConfig = field(default_factory=SlicerConfig)


@dataclass
class TrainConfig:
    max_steps: int = 1000
    lr: float = 1e-4
    grad_accum: int = 1
    seed: int = 1234
    save_every: int = 500
    audition_every: int = 500
    # held-out figures (`valid_loss`, …) every N steps and at the last, when clips are
    # held out (data.valid_fraction or train --valid D); 0 = never
    eval_every: int = 100
    keep_checkpoints: int = 3  # the newest N step checkpoints, plus best.pt
    device: str = "auto"  # auto = cuda:LOCAL_RANK when CUDA exists, else cpu
    world_size: int = 0  # 0 = whatever torchrun started; else must match it
    distributed: Literal["ddp", "fsdp"] = "ddp"
    buckets: int = 10  # length buckets of the batch sampler
    tail: Literal["pad", "drop"] = "pad"  # how the last batches are evened out across ranks
    loss_norm: Literal["sum", "mean"] = "sum"  # GPT: official summed loss, or per real token
    max_oom_retries: int = 3  # out-of-memory retries in a row before the run stops
    check_replicas: bool = False  # debug: compare every rank's weights after each step
    fixed_batch: int = 0  # >0: N clips per batch whatever their length (the official
    # recipe's scheme, for comparisons); 0 = batches packed to the token budget
    # learning-rate schedule: constant, warmup_cosine (the official GPT one), exponential
    # (the official SoVITS one, per epoch), or auto (the official one of the stage)
    lr_schedule: Literal["constant", "auto", "warmup_cosine", "exponential"] = "constant"
    warmup_steps: int = 2000  # warmup_cosine: linear warm-up from lr × lr_start_factor
    decay_steps: int = 40000  # warmup_cosine: cosine decay ends here at lr × lr_end_factor
    lr_start_factor: float = 0.001  # official: 1e-5 → peak 0.01
    lr_end_factor: float = 0.01  # official: peak 0.01 → 1e-4
    lr_decay: float = 0.999875  # exponential: factor per epoch (official SoVITS)
    text_lr_factor: float = 0.4  # SoVITS text embedding, text encoder and MRTE (official)
    grad_clip: float = 0.0  # max global gradient norm per network; 0 = off (official)
    dpo: bool = False  # GPT: add the official v2 DPO-style loss on corrupted codes
    # v3/v4: the shortcut target's two extra estimator runs without autograd (the official
    # detaches them: the same gradient, less memory; measured in docs/benchmarks.md)
    cfm_bootstrap_no_grad: bool = True
    compile: bool = False  # each block through torch.compile (GPU speed; CPU: compile time)


@dataclass
class LoraConfig:
    rank: int = 0  # 0 = off; 8-32 is typical. LoRA trains a few % of the weights.
    alpha: float = 16.0
    dropout: float = 0.0
    quantize_base: bool = False  # QLoRA: frozen GPT FFN weights in 4-bit NF4 (bitsandbytes)
    # the stages that train through adapters; the others train in full (timbre: the GPT)
    stages: list[str] = field(default_factory=lambda: ["gpt", "sovits"])


@dataclass
class MemoryConfig:
    # none | all | selective | every:K | count:N, within each block group (GPT layers;
    # SoVITS text_encoder, posterior, flow, decoder), or per group: decoder:all,flow:every:2
    checkpoint: str = "none"
    precision: Precision = "auto"
    optimizer: OptimizerKind = "auto"  # 8-bit states only where full precision would not
    # fit (memory/optimizers.resolve_auto; the planner: only if nothing else fits)
    lora: LoraConfig = field(default_factory=LoraConfig)
    freeze: list[str] = field(default_factory=list)
    offload_activations: bool = False  # saved tensors to pinned host memory (CUDA only)
    # frozen Linear/Conv1d weights (LoRA's base, frozen groups) stored in fp16 where fp16
    # holds them exactly: half their memory, the same training maths under autocast
    # (memory.precision bf16/fp16); under fp32 it does nothing (memory/half_frozen.py)
    half_frozen: bool = False


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
