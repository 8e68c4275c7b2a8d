"""`leanvoice plan`: predict a training run's peak memory and pick settings that fit.

The model is measured, not guessed. For each candidate setting (checkpoint policy ×
optimizer, with the config's LoRA/freeze/precision) the real trainer (`setup()`,
`train_step()`) runs real steps on a batch of N copies of the worst-case clip (the
longest the data holds, or `data.max_sec` of speech), at two batch sizes, on the device
at hand (CPU: live-tensor peak; CUDA: the allocator's peak minus the bytes that were
live before the candidate's trainer was built, which is dropped after its step). The
forward+backward peak is linear in N at a fixed clip length — parameters, gradients and
optimizer states are the constant part, activations the slope — and the optimizer step
adds a peak that does not grow with N; so the model is max(line, step peak), two
measurements give it, and the largest N under the budget gives the token budget
(`data.max_tokens` / `data.max_frames` = N × the clip's cost in the stage's unit: tokens,
50 Hz frames, v3/v4 mel frames; the bucketing sampler never exceeds it, and shorter clips
cost less). A stated margin (`headroom`, default 10 %) covers allocator fragmentation and
workspace the measurement does not see.

Candidates are ranked by measured speed: each calibration also times one unprobed step
at both sizes, and the plan picks the setting with the most tokens per second at its
largest fitting batch. Under `memory.optimizer=auto` (the presets) 8-bit optimizer states
are taken only when no full-precision setting fits.

With `--data`, the plan also predicts the run it plans: it forms the batches the
bucketing sampler will really make on that data under the chosen budget and measures
the chosen setting's step on the largest of them (by padded tokens, and by clip count);
that is `predicted_peak_bytes`, and the worst case (N copies of the worst clip) is
`worst_case_peak_bytes`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanvoice.config.schema import Config
from leanvoice.config.sizes import SOVITS_VERSIONS, load_size
from leanvoice.data.batch_cost import costliest_first, most_clips_first
from leanvoice.data.manifest import ClipRecord, read_manifest, write_manifest
from leanvoice.errors import ConfigError
from leanvoice.memory.report import MemoryReport
from leanvoice.text.symbols import SYMBOLS
from leanvoice.train import trainer_class

CHECKPOINTS = ("none", "every:2", "all")
OPTIMIZERS = ("adamw", "adamw8bit")
CALIBRATION = (1, 3)  # batch sizes (copies of the worst-case clip) that are measured
# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
CARDS_GB = {
    "gtx-1650": 4, "rtx-3050": 6, "rtx-2060": 6, "rtx-3060": 12, "rtx-3070": 8,
    "rtx-3080": 10, "rtx-3090": 24, "rtx-4060": 8, "rtx-4070": 12, "rtx-4080": 16,
    "rtx-4090": 24, "a4000": 16, "a5000": 24, "a100-40gb": 40, "a100-80gb": 80, "h100": 80,
}  # fmt: skip


def parse_size(text: str) -> int:
    """ "64MB", "6GB", "6G", "512MiB" → bytes (GB and GiB both mean 2**30 here, as cards
    are sold)."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    cleaned = text.strip().lower().replace("ib", "").replace("b", "")
    if cleaned and cleaned[-1] in units:
        number, unit = cleaned[:-1], units[cleaned[-1]]
    else:
        number, unit = cleaned, 1
    try:
        value = float(number) * unit
    except ValueError:
        raise ConfigError(f"--vram {text!r}: write a size such as 64MB or 6GB") from None
    if value <= 0:
        raise ConfigError(f"--vram {text!r} must be positive")
    return int(value)


def card_bytes(name: str) -> int:
    key = name.strip().lower().replace(" ", "-")
    if key not in CARDS_GB:
        raise ConfigError(f"unknown card {name!r}; known: {', '.join(sorted(CARDS_GB))}")
    return CARDS_GB[key] * 2**30


@dataclass
class Candidate:
    checkpoint: str
    optimizer: str

    def overrides(self) -> list[str]:
        return [f"memory.checkpoint={self.checkpoint}", f"memory.optimizer={self.optimizer}"]


@dataclass
class Line:
    """Measured peak = max(intercept + slope × batch size, step_peak): forward+backward
    grows with the batch; the optimizer step's peak (weights, gradients, states and its
    temporaries) does not, and dominates when activations are small."""

    candidate: Candidate
    intercept: float
    slope: float
    step_peak: float
    states: dict[str, int]  # parameters / gradients / optimizer bytes (constant)
    seconds_intercept: float = 0.0  # measured step time = intercept + slope × batch size
    seconds_slope: float = 0.0

    def peak(self, clips: int) -> int:
        return int(max(self.intercept + self.slope * clips, self.step_peak))

    def seconds(self, clips: int) -> float:
        return max(self.seconds_intercept + self.seconds_slope * clips, 1e-9)

    def largest_batch(self, budget: int) -> int:
        if self.step_peak > budget or self.slope <= 0:
            return 0
        return max(0, int((budget - self.intercept) // self.slope))


@dataclass
class Plan:
    stage: str
    budget_bytes: int
    usable_bytes: int
    clip_cost: int  # the worst-case clip's tokens (GPT) or frames (SoVITS; v3/v4: mel)
    lines: list[Line]
    chosen: Line | None
    clips: int  # batch size (copies of the worst-case clip) for the chosen line
    run_peak_bytes: int | None = None  # measured on the data's largest real batch (--data)
    batch_limit_key: str = "data.max_tokens"  # the stage trainer's: data.max_tokens / max_frames
    caps_clips: bool = False  # the trainer's memory_per_clip: data.max_clips too

    def overrides(self) -> list[str]:
        if self.chosen is None:
            return []
        budget = [f"{self.batch_limit_key}={self.clips * self.clip_cost}"]
        if self.caps_clips:  # the VITS decoder's memory grows with clips, not frames
            budget.append(f"data.max_clips={self.clips}")
        return [*self.chosen.candidate.overrides(), *budget]

    def breakdown(self, line: Line, clips: int) -> dict[str, int]:
        return {
            "parameters_bytes": line.states["parameters"],
            "gradients_bytes": line.states["gradients"],
            "optimizer_bytes": line.states["optimizer"],
            "activations_bytes": int(line.peak(clips) - sum(line.states.values())),
        }

    def predicted_peak(self) -> int:
        """This run's peak: measured on the data's largest batch, else the worst case."""
        if self.run_peak_bytes is not None:
            return self.run_peak_bytes
        line = self.chosen or min(self.lines, key=lambda x: x.peak(1))
        return line.peak(self.clips if self.chosen else 1)

    def as_json(self) -> dict[str, Any]:
        line = self.chosen or min(self.lines, key=lambda x: x.peak(1))
        clips = self.clips if self.chosen else 1
        breakdown = self.breakdown(line, clips)
        breakdown["activations_bytes"] = int(self.predicted_peak() - sum(line.states.values()))
        return {
            "stage": self.stage,
            "predicted_peak_bytes": self.predicted_peak(),
            "worst_case_peak_bytes": line.peak(clips),
            "breakdown": breakdown,
            "fits": self.chosen is not None,
            "overrides": self.overrides(),
            "budget_bytes": self.budget_bytes,
            "usable_bytes": self.usable_bytes,
        }

    def shortfall(self) -> str:
        leanest = min(self.lines, key=lambda x: x.peak(1))
        need = leanest.peak(1) / 2**30
        return (
            f"nothing fits in {self.usable_bytes / 2**30:.2f} GB usable: one "
            f"worst-case clip needs {need:.2f} GB even with "
            f"memory.checkpoint={leanest.candidate.checkpoint} and "
            f"memory.optimizer={leanest.candidate.optimizer}"
        )


# -- measuring -------------------------------------------------------------------------
def worst_case_clip(stage: str, cfg: Config, data: Path | None) -> dict[str, int]:
    """Lengths of the costliest clip: from the prepared data, or `data.max_sec` of speech
    (phonemes at the official cap of codes / 2.5)."""
    if data is not None:
        clips = read_manifest(Path(data), need_features=True)
        if stage == "gpt":
            worst = max(clips, key=lambda c: len(c.phoneme_ids) + (c.semantic_tokens or 0))
            return {
                "phonemes": len(worst.phoneme_ids),
                "codes": worst.semantic_tokens or 0,
                "frames": worst.frames,
            }
        worst = max(clips, key=lambda c: c.frames)
        return {
            "phonemes": len(worst.phoneme_ids),
            "codes": worst.frames // 2,
            "frames": worst.frames,
        }
    rates = load_size(cfg.model.size).sovits  # frame and code rates of the size
    codes = int(cfg.data.max_sec * rates.codes_per_second)
    frames = int(cfg.data.max_sec * rates.frames_per_second)
    return {"phonemes": int(codes / 2.5), "codes": codes, "frames": frames}


def clip_cost(stage: str, cfg: Config, clip: dict[str, int]) -> int:
    """What a clip of those lengths costs under the stage's batch limit: phonemes + codes
    (GPT), or what the SoVITS trainer makes of its 50 Hz frames (v3/v4: mel frames)."""
    if stage == "gpt":
        return clip["phonemes"] + clip["codes"]
    return trainer_class(stage, cfg).clip_cost(cfg, clip["frames"])


def write_worst_case_clip(root: Path, cfg: Config, clip: dict[str, int]) -> None:
    """A one-clip prepared dataset with those lengths (random features): the trainers
    then run their real step on it."""
    from leanvoice.audio.io import write_wav

    # v3/v4 read the same features as v2 (and no speaker embedding)
    version = cfg.model.version if cfg.model.version in SOVITS_VERSIONS else "v2"
    sizes = load_size(cfg.model.size, version)
    rng = np.random.default_rng(0)
    for name in ("bert", "semantic", "ssl", "wav32k", "sv"):
        (root / name).mkdir(parents=True, exist_ok=True)
    sv_dim = sizes.sovits.sv_dim  # v2Pro/v2ProPlus: a speaker embedding per clip
    if sv_dim:
        np.save(root / "sv" / "c.npy", rng.standard_normal(sv_dim).astype(np.float16))
    np.save(
        root / "bert" / "c.npy",
        rng.standard_normal((sizes.gpt.bert_dim, clip["phonemes"])).astype(np.float16),
    )
    np.save(root / "semantic" / "c.npy", rng.integers(0, 1024, clip["codes"]).astype(np.int16))
    np.save(
        root / "ssl" / "c.npy",
        rng.standard_normal((sizes.sovits.ssl_dim, clip["frames"])).astype(np.float16),
    )
    samples = clip["frames"] * sizes.sovits.hop_length
    write_wav(
        root / "wav32k" / "c.wav",
        0.1 * rng.standard_normal(samples).astype(np.float32),
        sizes.sovits.sample_rate,
    )
    ids = [1 + i % 700 for i in range(clip["phonemes"])]
    seconds = samples / sizes.sovits.sample_rate
    entry = ClipRecord(
        id="c",
        speaker="planner",
        language="zh",
        text="",
        normalized_text="",
        phonemes=[SYMBOLS[i] for i in ids],
        phoneme_ids=ids,
        word2ph=None,
        duration_sec=seconds,
        samples=samples,
        frames=clip["frames"],
        wav="wav32k/c.wav",
        source="planner: random features of the costliest clip's lengths",
        source_span_sec=[0.0, seconds],
        ssl_path="ssl/c.npy",
        bert_path="bert/c.npy",
        semantic_path="semantic/c.npy",
        semantic_tokens=clip["codes"],
        sv_path="sv/c.npy" if sv_dim else None,
    )
    write_manifest(root, [entry])


@dataclass
class Measured:
    """What one calibration step left behind: numbers only, so no tensor of its trainer
    outlives it (on CUDA the allocator's peak counts every live tensor of the process)."""

    report: MemoryReport
    backward_peak: int
    seconds: float  # one more step, unprobed (synchronised on CUDA)


def measure(stage: str, cfg: Config, data: Path, batch: list[int], device: str) -> Measured:
    """Real training steps on one batch (clip indices of `data`) through the trainer's
    public `setup()` and `train_step()`: a warm-up (optimizer states come to exist), a
    measured step, a timed step. On CUDA the bytes live before the trainer was built
    (other candidates' leftovers, the caller's tensors) are subtracted from the peaks."""
    from leanvoice.train.oom import free_memory

    stage_trainer = trainer_class(stage, cfg)
    train = replace(cfg.train, device=device, audition_every=0, grad_accum=1)
    whole = 2**40  # one micro-batch of the whole batch: no split by the batch budget
    data_cfg = replace(cfg.data, max_tokens=whole, max_frames=whole, max_clips=0)
    cfg = replace(cfg, train=train, data=data_cfg)
    free_memory()
    on_cuda = torch.device(device).type == "cuda"
    before = torch.cuda.memory_allocated(device) if on_cuda else 0
    trainer = stage_trainer(cfg, data, data / "run")
    trainer.setup()
    trainer.train_step([batch])
    probe = trainer.memory_probe()
    trainer.train_step([batch], probe)
    report = probe.report()
    report.peak_bytes -= before
    backward_peak = probe.backward_peak - before
    if on_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    trainer.train_step([batch])
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    del trainer, probe
    free_memory()
    return Measured(report, backward_peak, seconds)


def measured_peak(stage: str, cfg: Config, data: Path, clips: int, device: str) -> int:
    """The peak of a batch of `clips` copies of the first clip in `data`."""
    return measure(stage, cfg, data, [0] * clips, device).report.peak_bytes


def calibrate(stage: str, cfg: Config, data: Path, candidate: Candidate, device: str) -> Line:
    cfg = with_candidate(cfg, candidate)
    runs = {n: measure(stage, cfg, data, [0] * n, device) for n in CALIBRATION}
    (n1, p1), (n2, p2) = sorted(runs.items())
    slope = (p2.backward_peak - p1.backward_peak) / (n2 - n1)
    intercept = p1.backward_peak - slope * n1
    # where the whole step peaked above forward+backward, the optimizer step set it
    step_peaks = [
        run.report.peak_bytes for run in runs.values() if run.report.peak_bytes > run.backward_peak
    ]
    first = p1.report
    states = {
        "parameters": first.parameters_bytes,
        "gradients": first.gradients_bytes,
        "optimizer": first.optimizer_bytes,
    }
    seconds_slope = max((p2.seconds - p1.seconds) / (n2 - n1), 0.0)
    seconds_intercept = max(p1.seconds - seconds_slope * n1, 0.0)
    return Line(
        candidate,
        intercept,
        slope,
        max(step_peaks, default=0.0),
        states,
        seconds_intercept,
        seconds_slope,
    )


def with_candidate(cfg: Config, candidate: Candidate) -> Config:
    memory = replace(cfg.memory, checkpoint=candidate.checkpoint, optimizer=candidate.optimizer)
    return replace(cfg, memory=memory)


def epoch_batches(
    stage: str, cfg: Config, data: Path, budget: int, max_clips: int
) -> tuple[list[list[int]], list[int]]:
    """(the batches the bucketing sampler forms on `data` under `budget` in epoch 0, every
    rank's; the clips' lengths), as a training run with `cfg` would form them."""
    stage_trainer = trainer_class(stage, cfg)
    key = stage_trainer.batch_limit_key.split(".")[1]  # data.max_tokens / data.max_frames
    tuned = replace(cfg, data=replace(cfg.data, **{key: budget, "max_clips": max_clips}))
    trainer = stage_trainer(tuned, data, data / "planner-run")  # nothing is written
    trainer.clips = trainer.load_clips(trainer.data)
    return trainer.make_sampler().global_batches(0), trainer.clips.lengths


def largest_batches(stage: str, cfg: Config, data: Path, budget: int, max_clips: int):
    """The batches the bucketing sampler forms on `data` under `budget` (epoch 0, every
    rank's): the largest by padded cost, and the largest by clip count (SoVITS's decoder
    grows with clips)."""
    batches, lengths = epoch_batches(stage, cfg, data, budget, max_clips)
    by_cost = max(batches, key=lambda b: costliest_first(b, lengths))
    by_clips = max(batches, key=lambda b: most_clips_first(b, lengths))
    return [by_cost] if by_clips == by_cost else [by_cost, by_clips]


def tokens_per_second(line: Line, clips: int, cost: int) -> float:
    """Measured useful tokens (frames) per second at a batch of `clips` worst-case clips."""
    return clips * cost / line.seconds(clips)


def choose(
    lines: list[Line], usable: int, cost: int, prefer_full_precision: bool = False
) -> tuple[Line | None, int]:
    """(the fastest line at its largest fitting batch, that batch), by measured tokens per
    second; (None, 0) when nothing fits. `prefer_full_precision` (`memory.optimizer=auto`):
    8-bit states are taken only when no full-precision setting fits at all."""
    fitting = [(line, line.largest_batch(usable)) for line in lines]
    fitting = [(line, clips) for line, clips in fitting if clips >= 1]
    if prefer_full_precision:
        full = [(line, n) for line, n in fitting if line.candidate.optimizer != "adamw8bit"]
        fitting = full or fitting
    if not fitting:
        return None, 0
    return max(fitting, key=lambda item: tokens_per_second(item[0], item[1], cost))


def make_plan(
    stage: str,
    cfg: Config,
    budget_bytes: int,
    *,
    headroom: float = 0.1,
    data: Path | None = None,
    device: str = "cpu",
    candidates: list[Candidate] | None = None,
    on_candidate: Callable[[int, int, Line], None] | None = None,
    lines: list[Line] | None = None,
) -> Plan:
    """`lines`: an earlier plan's calibration of the same stage, config and data, reused
    (the lines do not depend on the budget): only the choice and the --data run peak are
    measured again."""
    if stage not in ("gpt", "sovits"):
        raise ConfigError(f"--stage {stage}: use gpt or sovits")
    if not 0 <= headroom < 1:
        raise ConfigError(f"--headroom {headroom}: use a fraction such as 0.1")
    clip = worst_case_clip(stage, cfg, data)
    cost = clip_cost(stage, cfg, clip)
    candidates = candidates or [Candidate(c, o) for c in CHECKPOINTS for o in OPTIMIZERS]
    if lines is None:
        lines = []
        with tempfile.TemporaryDirectory(prefix="leanvoice-plan-") as tmp:
            write_worst_case_clip(Path(tmp), cfg, clip)
            for candidate in candidates:
                lines.append(calibrate(stage, cfg, Path(tmp), candidate, device))
                if on_candidate is not None:
                    on_candidate(len(lines), len(candidates), lines[-1])
    usable = int(budget_bytes * (1 - headroom))
    best, best_clips = choose(lines, usable, cost, cfg.memory.optimizer == "auto")
    trainer = trainer_class(stage, cfg)
    plan = Plan(
        stage, budget_bytes, usable, cost, lines, best, best_clips, None,
        trainer.batch_limit_key, trainer.memory_per_clip,
    )  # fmt: skip
    if best is not None and data is not None:
        tuned = with_candidate(cfg, best.candidate)
        max_clips = best_clips if trainer.memory_per_clip else 0
        batches = largest_batches(stage, tuned, Path(data), best_clips * cost, max_clips)
        plan.run_peak_bytes = max(
            measure(stage, tuned, Path(data), batch, device).report.peak_bytes for batch in batches
        )
    return plan
