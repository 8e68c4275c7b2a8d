"""The training loop both stages share, and the one owner of a training step.

`setup()` builds everything a step needs, once: the distributed context, the clips and
the bucketing sampler, the stage's networks (under the memory policy, wrapped for
DDP/FSDP), then each network's optimizer, GradScaler and learning-rate schedule.
`train_step(group)` is one optimizer step over a group of sampler batches, in order:

1. each network's learning rate for this step;
2. the group split into micro-batches within the OOM guard's micro-batch limit;
3. for each micro-batch (gradients synchronised across ranks on the last only): the
   stage's shared `forward`, then each of its `loss_phases` in the order it declares
   them (SoVITS: the discriminator's loss, then the generator's with the discriminator
   frozen), each loss's backward right after its forward, so one graph is freed before
   the next is built;
4. only when every micro-batch has succeeded on every rank, per network: unscale,
   measure (and with `train.grad_clip` clip) the gradient norm, step, update the
   GradScaler, zero the gradients.

An out-of-memory error in a forward or a backward (agreed across ranks under DDP) drops
the step's gradients and retries it on smaller micro-batches; since no optimizer has
stepped yet, a retry never changes the weights twice for one batch. The step-in-backward
optimizer updates inside backward, so there the guard trains a smaller batch instead of
accumulating, and an out-of-memory after some weights were updated stops the run.
`train()` runs `setup()`, resumes, loops over `train_step`, writes checkpoints and the
summary. Every `train.eval_every` steps `evaluate()` measures the held-out clips
(`data.valid_fraction` or a separate `valid` folder) in eval mode, without gradients.
"""

from __future__ import annotations

import contextlib
import gc
import math
import random
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import nn

from leanvoice.config.loader import to_dict
from leanvoice.config.schema import Config
from leanvoice.data.batch_cost import costliest_first, most_clips_first, padded_cost
from leanvoice.data.held_out import held_out_ids, split_clip_set
from leanvoice.data.manifest import read_manifest
from leanvoice.data.sampler import BucketBatchSampler, padding_efficiency
from leanvoice.data.training_sets import ClipSet
from leanvoice.errors import ConfigError, InputError, LeanVoiceError
from leanvoice.memory.half_frozen import full_precision, half_modules
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer, optimizer_name, resolve_auto
from leanvoice.memory.precision import PrecisionPlan
from leanvoice.memory.report import MemoryReport, StepMemory
from leanvoice.train import checkpoint as ckpt
from leanvoice.train.distributed import (
    DistContext,
    all_reduce_max,
    all_reduce_sum,
    any_rank,
    barrier,
    init_distributed,
    shutdown,
    sync_gradients,
)
from leanvoice.train.gradients import clip_gradients
from leanvoice.train.monitor import Monitor
from leanvoice.train.oom import OOMGuard, OutOfMemoryStop, free_memory, split_by_limit
from leanvoice.train.run_lock import RunLock
from leanvoice.train.schedule import LRSchedule
from leanvoice.train.state import (
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
)

# held-out figures of a micro-batch: name → (sum, weight); reported as sum / weight
HeldOut = dict[str, tuple[float, float]]


@dataclass
class Network:
    """One optimised network: its plain module (checkpoint keys) and the DDP/FSDP
    wrapper its forward runs through. The stage's `networks` dict names it: `gpt`,
    `generator` or `discriminator` (checkpoint.ON_DISK maps the names to file keys)."""

    model: nn.Module
    wrapped: nn.Module
    groups: list[dict[str, Any]]  # optimizer parameter groups: {"params", "lr"}
    optimizer_kind: str = ""  # a memory.optimizer kind; "" = memory.optimizer itself
    optimizer: Any = None
    scaler: Any = None
    schedule: LRSchedule | None = None


@dataclass
class LossPhase:
    """One loss of a stage's step: `compute(outputs)` turns the micro-batch's shared
    forward outputs into a loss whose gradients are for `network`'s optimizer. The step
    runs a stage's phases in the order it lists them, each backward right after its
    forward. `logged`: this loss is the stage's reported loss."""

    network: str
    compute: Callable[[dict[str, Any]], torch.Tensor]
    logged: bool = True


@dataclass
class MicroBatchWeight:
    """What a micro-batch's loss is multiplied by, so that micro-batches add up to one
    batch of the same clips: for the gradient, and for the reported loss."""

    gradient: float
    reported: float


@dataclass
class StepResult:
    loss: float  # the step's loss as the stage defines it (per real token for the GPT)
    real: int  # real (non-pad) tokens or frames trained on
    padded: int  # tokens or frames in the padded tensors
    dropped_clips: int = 0  # clips the OOM guard left out (step-in-backward only)
    failed_at: str = ""  # "forward" / "backward": some rank ran out of memory there
    grad_norms: dict[str, float] = field(default_factory=dict)  # per network, before clipping


class StageTrainer(ABC):
    stage: str
    batch_limit_key: str
    audition_clips = 1  # usable clips an audition needs
    official_schedule: str  # what train.lr_schedule=auto means for this stage
    # memory grows with the clip count as well as the padded length (the VITS decoder's
    # fixed slice of every clip): batches are then ordered clips first (`batch_cost`)
    # and the planner caps clips (data.max_clips) too
    memory_per_clip = False
    # the memory report's probe (two steps per run) slows a CPU step several times over;
    # benchmarks that time or repeat many short runs turn it off
    measure_memory = True

    def __init__(
        self,
        cfg: Config,
        data: Path,
        run: Path,
        *,
        resume: str = "auto",
        overwrite: bool = False,
        console: Console | None = None,
        fault_injector: Any = None,
        valid: Path | None = None,
    ) -> None:
        self.cfg, self.data, self.run = cfg, Path(data), Path(run)
        self.valid_data = None if valid is None else Path(valid)  # held-out clips' folder
        self.resume, self.overwrite = resume, overwrite
        self.console = console or Console(stderr=True)
        # tests: called as (step, micro-batch index, point) before each forward
        # (point "forward") and each backward (point = the network's name)
        self.fault_injector = fault_injector
        self.step = 0
        self.best_loss = math.inf  # lowest step loss among saved checkpoints (best.pt)
        self.stop_requested = False  # set by SIGTERM: save at the end of this step, stop
        self.replicas_checked = 0
        self.ctx: DistContext | None = None
        self.networks: dict[str, Network] = {}
        self.precision: PrecisionPlan | None = None
        self.optimizer_choice = ""  # what memory.optimizer=auto chose, and why

    # -- what a stage provides -----------------------------------------------------------
    @abstractmethod
    def load_clips(self, root: Path) -> ClipSet:
        """The stage's clips of the prepared dataset in `root`, with its length caps."""

    @abstractmethod
    def batch_limit(self) -> int:
        """What a sampler batch may cost (`data.max_tokens` / `data.max_frames`: tokens or
        frames, padding counted)."""

    @abstractmethod
    def build_networks(self) -> dict[str, Network]:
        """Models on `self.ctx.device` under the memory policy, wrapped for DDP/FSDP;
        sets `self.precision`. Optimizers are the trainer's."""

    @abstractmethod
    def collate(self, part: list[int]) -> dict[str, torch.Tensor]:
        """One micro-batch of clip indices → tensors on the device."""

    @abstractmethod
    def counts(self, batch: dict[str, torch.Tensor]) -> tuple[int, int]:
        """(real, padded) tokens or frames of a micro-batch."""

    @abstractmethod
    def weights(self, batches: list[dict[str, torch.Tensor]]) -> list[MicroBatchWeight]:
        """Each micro-batch's weight in the step, so that micro-batches add up to one
        batch of the same clips."""

    @abstractmethod
    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The forward pass the stage's losses share (GPT: none; SoVITS: the generator)."""

    @abstractmethod
    def loss_phases(self) -> list[LossPhase]:
        """The stage's losses, in the order the step backpropagates them."""

    def audition(self) -> tuple[np.ndarray, int] | None:
        return None

    def validate(self, batch: dict[str, torch.Tensor], clips: int) -> HeldOut:
        """Held-out figures of one micro-batch of `clips` clips, each as (sum, weight):
        `evaluate` reports sum / weight over all held-out clips. By default the stage's
        logged loss as a mean over clips; stages override it with their own measures."""
        outputs = self.forward(batch)
        loss = sum(float(p.compute(outputs)) for p in self.loss_phases() if p.logged)
        return {"valid_loss": (loss * clips, clips)}

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Everything a step needs, built once; touches nothing in the run folder."""
        cfg = self.cfg
        self.ctx = init_distributed(cfg.train.device, cfg.train.world_size)
        if self.ctx.active and cfg.memory.optimizer == "adamw_in_backward":
            raise ConfigError(
                "memory.optimizer=adamw_in_backward steps before DDP has averaged the "
                "gradients; use adamw or adamw8bit with more than one process"
            )
        _seed_everything(cfg.train.seed)
        self.clips, self.valid = self._training_and_held_out()
        if cfg.train.audition_every and len(self.clips.clips) < self.audition_clips:
            raise ConfigError(
                f"{self.data}: auditions need at least {self.audition_clips} usable clips and the "
                f"{self.stage} stage has {len(self.clips.clips)}; add clips or set "
                "train.audition_every=0"
            )
        self.sampler = self.make_sampler(world_size=self.ctx.world_size, rank=self.ctx.rank)
        self.networks = self.build_networks()
        if cfg.memory.optimizer == "auto":  # one choice for every network, said in the log
            cfg = self.cfg = self._resolve_auto_optimizer()
        for network in self.networks.values():  # after wrapping: FSDP's shards are final
            kind = network.optimizer_kind or cfg.memory.optimizer
            network.optimizer = build_optimizer(network.groups, kind, cfg.train.lr)
            if self.precision.needs_scaler:  # one per optimizer, as in the GAN recipe
                network.scaler = self.precision.make_scaler()
            network.schedule = LRSchedule(network.optimizer, cfg.train, self.official_schedule)
        _seed_everything(cfg.train.seed + self.ctx.rank)  # dropout differs per rank
        limit = self.batch_limit()
        if cfg.train.fixed_batch:  # fixed batches are not split unless memory runs out
            lengths = self.clips.lengths
            limit = max(padded_cost(b, lengths) for b in self.sampler.global_batches(0))
        self.guard = OOMGuard(limit, max_in_a_row=cfg.train.max_oom_retries)

    def _half_frozen(self) -> str:
        """What memory.half_frozen did, for the log."""
        if self.precision.dtype is None:
            return "nothing stored in fp16: it needs autocast (memory.precision bf16 or fp16)"
        stored = sum(
            p.numel()
            for network in self.networks.values()
            for module in half_modules(network.model)
            for p in module.parameters(recurse=False)
        )
        return f"{stored:,} frozen parameters stored in fp16"

    def _training_and_held_out(self) -> tuple[ClipSet, ClipSet]:
        """(training clips, held-out clips): the held-out ones from `valid_data`, else
        `data.valid_fraction` of each speaker's clips by a fixed rule (data/held_out.py)."""
        clips = self.load_clips(self.data)
        if self.valid_data is not None:
            valid = self.load_clips(self.valid_data)
            if not valid.clips:
                raise InputError(f"{self.valid_data}: no usable held-out clips for {self.stage}")
            return clips, valid
        held = held_out_ids(read_manifest(self.data), self.cfg.data.valid_fraction)
        return split_clip_set(clips, held)

    def make_sampler(self, *, world_size: int = 1, rank: int = 0) -> BucketBatchSampler:
        """The bucketing sampler this run forms its batches with, over `self.clips` (the
        planner asks for it too, so that it plans the batches a run will see)."""
        cfg = self.cfg
        return BucketBatchSampler(
            self.clips.lengths,
            self.batch_limit(),
            seed=cfg.train.seed,
            num_buckets=cfg.train.buckets,
            world_size=world_size,
            rank=rank,
            tail=cfg.train.tail,
            fixed_batch=cfg.train.fixed_batch,
            max_clips=cfg.data.max_clips,
        )

    def _resolve_auto_optimizer(self) -> Config:
        """`memory.optimizer=auto` → adamw or adamw8bit, from the trainable parameters of
        every network this stage optimises against the device's memory."""
        trainable = sum(
            p.numel()
            for network in self.networks.values()
            for group in network.groups
            for p in group["params"]
            if p.requires_grad
        )
        kind, self.optimizer_choice = resolve_auto(trainable, self.ctx.device)
        return replace(self.cfg, memory=replace(self.cfg.memory, optimizer=kind))

    # -- one step ------------------------------------------------------------------------
    def train_step(self, group: list[list[int]], probe: StepMemory | None = None) -> StepResult:
        """One optimizer step over `group` (one sampler batch per accumulation step);
        `probe` measures the whole step, optimizer step included."""
        for network in self.networks.values():  # before backward: in-backward steps there
            network.schedule.apply(self.step, self.sampler.epoch)
        with probe if probe is not None else contextlib.nullcontext():
            while True:  # an out-of-memory error retries on smaller micro-batches
                parts, padding, dropped = self._micro_batches(group)
                result = self.forward_backward(parts, probe, padding=padding)
                if not result.failed_at:
                    break
                self._back_off(result)
            self.guard.succeeded()
            result.dropped_clips = dropped
            if probe is not None:
                probe.after_backward()
            for name, network in self.networks.items():
                if isinstance(network.optimizer, OptimizerInBackward):
                    continue  # it stepped, and freed each gradient, inside backward
                if network.scaler is not None:
                    network.scaler.unscale_(network.optimizer)  # the norm in true units
                result.grad_norms[name] = clip_gradients(
                    network.wrapped.parameters(), self.cfg.train.grad_clip
                )
                self._optimizer_step(network, probe)
                network.optimizer.zero_grad(set_to_none=True)
        return result

    def forward_backward(
        self,
        parts: list[list[int]],
        probe: StepMemory | None = None,
        *,
        padding: int = 0,
    ) -> StepResult:
        """Forward and backward over micro-batches (lists of clip indices), gradients
        summed as for one batch of the same clips; no optimizer step. The last `padding`
        parts only keep ranks in step (weight 0). On an out-of-memory error on any rank
        it stops early with `failed_at` set: every rank learns whether any ran out, so
        all retry together and none waits in a collective the others left."""
        batches = [self.collate(part) for part in parts]
        trained = batches[: len(batches) - padding]
        counts = [self.counts(batch) for batch in trained]
        real, padded = sum(c[0] for c in counts), sum(c[1] for c in counts)
        weights = self.weights(trained) + [MicroBatchWeight(0.0, 0.0)] * padding
        phases = self.loss_phases()
        reported = 0.0
        for index, (batch, weight) in enumerate(zip(batches, weights, strict=True)):
            with self._gradient_sync(last=index == len(batches) - 1):
                outputs = self._guarded_forward(index, probe, self.forward, batch)
                if any_rank(outputs is None, self.ctx):
                    return StepResult(math.nan, real, padded, failed_at="forward")
                for phase in phases:
                    loss = self._guarded_forward(index, probe, phase.compute, outputs)
                    if any_rank(loss is None, self.ctx):
                        return StepResult(math.nan, real, padded, failed_at="forward")
                    backward = loss.float() * weight.gradient
                    if any_rank(
                        not self._guarded_backward(phase.network, backward, index), self.ctx
                    ):
                        return StepResult(math.nan, real, padded, failed_at="backward")
                    if phase.logged:
                        reported += float(loss.detach()) * weight.reported
        return StepResult(reported, real, padded)

    def evaluate(self) -> dict[str, float]:
        """The held-out figures (`valid_loss` and the stage's own) over every held-out
        clip: eval mode, no gradients, a fixed seed for what is random in the losses
        (the training RNG streams are left as they were). Every rank computes the same
        figures (under FSDP each must take part in the forwards). Measured in fp32
        whatever `memory.precision` trains in, so that runs of different precisions
        compare (bf16 inference alone moved the tiny SoVITS's figure by 7 %)."""
        parts = split_by_limit(
            range(len(self.valid.clips)), self.valid.lengths, self.guard.micro_batch_limit
        )
        totals: dict[str, list[float]] = {}
        training, modes = self.clips, {n: x.model.training for n, x in self.networks.items()}
        precision = self.precision
        devices = [self.ctx.device] if self.ctx.device.type == "cuda" else []
        try:
            self.clips = self.valid  # what collate reads
            self.precision = PrecisionPlan(precision.device_type, None)  # no autocast
            for network in self.networks.values():
                network.model.eval()
            models = [network.model for network in self.networks.values()]
            with torch.random.fork_rng(devices=devices), torch.no_grad(), full_precision(*models):
                torch.manual_seed(self.cfg.train.seed)
                for part in parts:
                    figures = self.validate(self.collate(part), len(part))
                    for key, (value, weight) in figures.items():
                        total = totals.setdefault(key, [0.0, 0.0])
                        total[0] += value
                        total[1] += weight
        finally:
            self.clips, self.precision = training, precision
            for name, network in self.networks.items():
                network.model.train(modes[name])
        return {key: value / max(weight, 1e-12) for key, (value, weight) in totals.items()}

    def _micro_batches(self, group: list[list[int]]) -> tuple[list[list[int]], int, int]:
        """The group's batches split within the guard's micro-batch limit, evened out across ranks:
        (parts, trailing padding parts, clips left out). Each backward of the
        step-in-backward optimizer is an update, so there only the first part trains."""
        parts = [
            part
            for batch in group
            for part in split_by_limit(batch, self.clips.lengths, self.guard.micro_batch_limit)
        ]
        parts, padding = self._same_count_on_every_rank(parts)
        if self._steps_in_backward() and len(parts) > 1:
            return parts[:1], 0, sum(len(part) for part in parts[1:])
        return parts, padding, 0

    def _back_off(self, result: StepResult) -> None:
        """After an out-of-memory error: drop the step's gradients, free memory and
        lower the micro-batch limit (the guard stops the run after too many)."""
        if self._steps_in_backward() and result.failed_at == "backward":
            raise OutOfMemoryStop(
                f"out of memory inside backward at step {self.step + 1} with "
                "memory.optimizer=adamw_in_backward, which updates weights during "
                "backward: a retry could update some twice, so the run stops here; "
                f"lower {self.batch_limit_key} and resume"
            )
        self._drop_gradients()
        free_memory()
        self._log(self.guard.failed(self.step + 1, self.batch_limit_key))

    def _same_count_on_every_rank(self, parts: list[list[int]]) -> tuple[list[list[int]], int]:
        """Under DDP every rank must run as many micro-batches (each all-reduces at the
        same points): after an out-of-memory split, a rank with fewer splits its largest
        parts further, and when no part can be split it repeats a clip with weight 0.
        Returns the parts and how many trailing ones are such padding."""
        if not self.ctx.active or self.guard.total == 0:
            return parts, 0  # before any out-of-memory every batch is one micro-batch
        target = all_reduce_max(len(parts), self.ctx)
        parts = [list(part) for part in parts]
        while len(parts) < target and max(len(part) for part in parts) > 1:
            largest = max(range(len(parts)), key=lambda i: len(parts[i]))
            part = parts.pop(largest)
            parts[largest:largest] = [part[: len(part) // 2], part[len(part) // 2 :]]
        padding = target - len(parts)
        return parts + [[parts[-1][0]] for _ in range(padding)], padding

    def _guarded_forward(
        self, index: int, probe: StepMemory | None, compute: Callable[[Any], Any], inputs: Any
    ) -> Any:
        """`compute(inputs)`, its saved activations counted by the probe; None when it
        ran out of memory."""
        counting = probe.forward() if probe is not None else contextlib.nullcontext()
        try:
            self._inject(index, "forward")
            with counting:
                return compute(inputs)
        except torch.OutOfMemoryError:
            return None

    def _guarded_backward(self, network: str, loss: torch.Tensor, index: int) -> bool:
        """Backward through `network`'s GradScaler; False when it ran out of memory."""
        scaler = self.networks[network].scaler
        try:
            self._inject(index, network)
            (scaler.scale(loss) if scaler is not None else loss).backward()
        except torch.OutOfMemoryError:
            return False
        return True

    def _inject(self, index: int, point: str) -> None:
        if self.fault_injector is not None:
            self.fault_injector(self.step + 1, index, point)

    def _gradient_sync(self, last: bool) -> contextlib.ExitStack:
        """Gradients are synchronised across ranks once per step: on the last micro-batch
        (DDP's no_sync, FSDP2's set_requires_gradient_sync)."""
        stack = contextlib.ExitStack()
        for network in self.networks.values():
            stack.enter_context(sync_gradients(network.wrapped, last))
        return stack

    def _steps_in_backward(self) -> bool:
        return any(isinstance(n.optimizer, OptimizerInBackward) for n in self.networks.values())

    def _optimizer_step(self, network: Network, probe: StepMemory | None) -> None:
        """Step through the GradScaler under fp16 (it skips a step whose gradients
        overflowed) and update its scale. torchao's 8-bit step is a compiled graph that
        the CPU live-tensor probe cannot trace, so it runs untraced there."""
        optimizer, scaler = network.optimizer, network.scaler
        untraced = probe is not None and "AdamW8bit" in optimizer_name(optimizer)
        with probe.untraced() if untraced else contextlib.nullcontext():
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()

    def _drop_gradients(self) -> None:
        for network in self.networks.values():
            for parameter in network.model.parameters():
                parameter.grad = None

    def _log(self, message: str) -> None:
        if self.ctx.is_main:
            self.console.print(message, soft_wrap=True)  # a log line: never wrapped

    # -- for the memory report and the planner -------------------------------------------
    def optimizer_names(self) -> str:
        """Which implementation each network's optimizer is (the 8-bit one differs by
        device and by what is installed)."""
        return ", ".join(
            f"{key} {optimizer_name(network.optimizer)}" for key, network in self.networks.items()
        )

    def memory_probe(self) -> StepMemory:
        """A probe over every network and optimizer of this stage."""
        models = [n.model for n in self.networks.values()]
        optimizers = [n.optimizer for n in self.networks.values()]
        model = models[0] if len(models) == 1 else nn.ModuleList(models)
        return StepMemory(
            model, optimizers if len(optimizers) > 1 else optimizers[0], self.ctx.device
        )

    # -- the loop ------------------------------------------------------------------------
    def train(self) -> dict[str, Any] | None:
        """Set up, take the run folder's lock, resume, train to `train.max_steps`, save;
        the run summary (None when the newest checkpoint already reached `max_steps`:
        nothing to do)."""
        self.setup()
        lock = RunLock(self.run, self.stage)
        try:
            self._take_lock(lock)
            return self._resume_and_loop()
        finally:
            lock.release()
            barrier(self.ctx)
            self._drop_wrappers()
            shutdown(self.ctx)

    def _drop_wrappers(self) -> None:
        """Let go of the DDP wrappers before the process group is destroyed: a wrapper's
        reducer holds the group, which then outlives `destroy_process_group` and is torn
        down, with gloo's threads, only at the interpreter's exit. The suspected cause of
        a rank now and then dying with SIGABRT ("terminate called without an active
        exception") after a finished run, rare enough that no run here reproduced it."""
        for network in self.networks.values():
            network.wrapped = network.model
        gc.collect()

    def _take_lock(self, lock: RunLock) -> None:
        """Rank 0 takes the lock; every rank learns whether it could."""
        refused: LeanVoiceError | None = None
        if self.ctx.is_main:
            try:
                lock.acquire()
            except LeanVoiceError as error:
                refused = error
        if any_rank(refused is not None, self.ctx):
            raise refused or InputError(f"{self.run}: rank 0 could not take the run lock")

    def _resume_and_loop(self) -> dict[str, Any] | None:
        if self.resume == "none":  # a run folder holds one run
            moved = None
            if self.ctx.is_main:
                moved = ckpt.start_afresh(self.run, self.overwrite)
            barrier(self.ctx)
            if moved is not None:
                self._log(f"{self.run}: the earlier run was moved to {moved}")
        monitor = Monitor(self.run, self.ctx.is_main, self.console, self.cfg.train.max_steps)
        if self.clips.dropped:  # every clip the stage leaves out, and why
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.clips.dropped.items()))
            monitor.log(
                f"{self.stage}: {sum(self.clips.dropped.values())} clips left out: {reasons}"
            )
        if self.optimizer_choice:
            monitor.log(f"{self.stage} memory.optimizer={self.optimizer_choice}")
        loaded = ckpt.load_for_resume(self.run, self.resume, monitor.log)
        if loaded is not None:
            self._restore(loaded.checkpoint, loaded.path)
            monitor.log(f"resumed from {loaded.path} at step {self.step}")
        if self.step >= self.cfg.train.max_steps:
            monitor.log(
                f"{self.run}: already trained to step {self.step} (train.max_steps="
                f"{self.cfg.train.max_steps}); nothing to do: raise train.max_steps to go on"
            )
            return None
        monitor.start(self.step)
        summary = None
        previous = self._catch_stop_signals()
        try:
            summary = self._loop(monitor)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            monitor.close(summary)
        return summary

    def _loop(self, monitor: Monitor) -> dict[str, Any]:
        cfg = self.cfg
        batches = iter(self.sampler)
        report: MemoryReport | None = None
        real_total, padded_total, seconds_total, loss = 0, 0, 0.0, math.nan
        cpu_total = 0.0  # this process's CPU seconds: a rate other work barely moves
        dropped_by_guard = 0
        valid: dict[str, float] = {}  # the latest held-out figures
        start_step = self.step
        probed_steps = self._steps_to_measure()
        while self.step < cfg.train.max_steps:
            group = [next(batches) for _ in range(cfg.train.grad_accum)]
            started, cpu_started = time.perf_counter(), time.process_time()
            probe = self.memory_probe() if self.step + 1 in probed_steps else None
            result = self.train_step(group, probe)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            if probe is not None:
                measured = probe.report()
                if report is None and self.ctx.is_main:
                    self.console.print(measured.table(f"{self.stage} training step"))
                    monitor.log(f"{self.stage} optimizer: {self.optimizer_names()}")
                    if cfg.memory.half_frozen:
                        monitor.log(f"{self.stage} memory.half_frozen: {self._half_frozen()}")
                if report is None or measured.peak_bytes > report.peak_bytes:
                    report = measured
            self.step += 1
            dropped_by_guard += result.dropped_clips
            if probe is None or cfg.train.max_steps - start_step == 1:
                # the measured step runs under the memory probe, slower: not timed
                real_total += result.real
                padded_total += result.padded
                seconds_total += seconds
                cpu_total += cpu_seconds
            loss = result.loss
            last = self.step == cfg.train.max_steps
            stopping = any_rank(self.stop_requested, self.ctx)
            every_save = cfg.train.save_every and self.step % cfg.train.save_every == 0
            saving = last or stopping or bool(every_save)  # the last step: never unsaved
            held_out = {}
            every = cfg.train.eval_every
            if self.valid.clips and every and (saving or self.step % every == 0):
                held_out = valid = self.evaluate()  # at every save too: what best.pt uses
            monitor.step(
                self.step,
                {
                    "loss": loss,
                    "tokens_per_second": result.real / max(seconds, 1e-9),
                    "padding_efficiency": result.real / max(result.padded, 1),
                    "peak_bytes": report.peak_bytes if report else 0,
                    "micro_batch_budget": self.guard.micro_batch_limit,
                    "lr": next(iter(self.networks.values())).schedule.lr,
                    # this rank's step: what a benchmark needs to time each step on its own
                    "real_tokens": result.real,
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    # per network, before clipping (train.grad_clip); TensorBoard groups them
                    **{f"grad_norm/{name}": norm for name, norm in result.grad_norms.items()},
                    **held_out,  # valid_loss, …: on evaluation steps only
                },
            )
            if cfg.train.check_replicas and self.ctx.active and cfg.train.distributed == "ddp":
                self._check_replicas()
            if saving:  # best.pt: the lowest held-out loss if measured, else step loss
                self._save(held_out.get("valid_loss", loss))
            if stopping and not last:
                monitor.log(f"stopped at step {self.step} on request; resume with --resume auto")
                break
            if cfg.train.audition_every and (self.step % cfg.train.audition_every == 0 or last):
                with full_precision(*(n.model for n in self.networks.values())):
                    sample = self.audition()  # in fp32: half frozen weights widened
                if sample is not None:
                    monitor.audio(f"audition/{self.stage}", sample[0], sample[1], self.step)
        world = self.ctx.world_size  # totals over all ranks; ranks run in lockstep
        real_all = all_reduce_sum(real_total, self.ctx)
        return {
            "stage": self.stage,
            "steps": self.step,
            "steps_this_run": self.step - start_step,
            "stopped_on_request": self.step < cfg.train.max_steps,
            "final_loss": all_reduce_sum(loss, self.ctx) / world,
            "tokens_per_second": real_all / max(seconds_total, 1e-9),
            # per rank's CPU time, ranks in lockstep: no extra collective at the end of a run
            "tokens_per_cpu_second": real_all / max(cpu_total * world, 1e-9),
            "padding_efficiency": real_all / max(all_reduce_sum(padded_total, self.ctx), 1),
            "epoch_padding_efficiency": padding_efficiency(
                self.sampler.rank_batches(0), self.clips.lengths
            ),
            "dropped_clips": self.clips.dropped,
            "clips": len(self.clips.clips),
            "held_out_clips": len(self.valid.clips),
            "valid": valid,  # the last held-out figures (valid_loss, …); {} if none
            "clips_left_out_by_oom_guard": dropped_by_guard,
            "optimizer": self.optimizer_names(),
            "out_of_memory_retries": self.guard.total,
            "world_size": self.ctx.world_size,
            "replicas_checked": self.replicas_checked,
            "memory": {
                k: v for k, v in (report.as_dict() if report else {}).items() if k != "peak_source"
            },
            "config": to_dict(self.cfg),
        }

    def _steps_to_measure(self) -> set[int]:
        """The steps whose memory is measured: this run's first (its report is shown at
        once) and the one with the costliest micro-batch among the next epoch's worth of
        steps, which sets the run's peak (`summary.json`'s `memory`)."""
        if not self.measure_memory:
            return set()
        accum = self.cfg.train.grad_accum
        steps = min(self.cfg.train.max_steps - self.step, max(len(self.sampler) // accum, 1))
        upcoming = self.sampler.peek(steps * accum)
        costs = [
            max(self.batch_cost(batch) for batch in upcoming[i : i + accum])
            for i in range(0, len(upcoming), accum)
        ]
        return {self.step + 1, self.step + 1 + costs.index(max(costs))}

    def batch_cost(self, batch: list[int]) -> tuple[int, int]:
        """How much memory a batch needs, for ordering: padded tokens, then clips; clips
        first where memory grows per clip (`memory_per_clip`)."""
        if self.memory_per_clip:
            return most_clips_first(batch, self.clips.lengths)
        return costliest_first(batch, self.clips.lengths)

    def _check_replicas(self) -> None:
        """Debug check: every rank's trainable weights must be identical after a step."""
        import torch.distributed as dist

        from leanvoice.memory.accounting import local

        params = [
            local(p.detach()).double()
            for network in self.networks.values()
            for p in network.model.parameters()
            if p.requires_grad
        ]
        mine = torch.stack([p.sum() for p in params] + [p.abs().sum() for p in params]).cpu()
        gathered = [torch.empty_like(mine) for _ in range(self.ctx.world_size)]
        dist.all_gather(gathered, mine)
        if any(not torch.equal(other, gathered[0]) for other in gathered):
            raise RuntimeError(f"rank weights differ after step {self.step}")
        self.replicas_checked += 1

    # -- checkpoints ---------------------------------------------------------------------
    def _catch_stop_signals(self) -> dict[int, Any]:
        """SIGTERM (what `kill`, the web UI's stop button and a scheduler send) and a
        first Ctrl-C ask the loop to finish its step, write a checkpoint and end; a second
        Ctrl-C quits at once. Returns the handlers to put back. Only the main thread may
        install them."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_interrupt(*_: Any) -> None:
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            self._log("Ctrl-C: saving a checkpoint after this step (Ctrl-C again quits at once)")

        return {
            signal.SIGTERM: signal.signal(
                signal.SIGTERM, lambda *_: setattr(self, "stop_requested", True)
            ),
            signal.SIGINT: signal.signal(signal.SIGINT, on_interrupt),
        }

    def network_states(self) -> dict[str, ckpt.NetworkState]:
        """Every network's weights, optimizer, scaler and schedule as tensors and plain
        containers (every rank takes part under FSDP)."""
        return {
            name: ckpt.NetworkState(
                model_state(network.model, network.wrapped, self.ctx),
                optimizer_state(network.optimizer, network.wrapped, self.ctx),
                network.scaler.state_dict() if network.scaler else {},
                network.schedule.state_dict(),
            )
            for name, network in self.networks.items()
        }

    def load_network_states(self, states: dict[str, ckpt.NetworkState]) -> None:
        for name, network in self.networks.items():
            state = states[name]
            load_model_state(network.model, network.wrapped, self.ctx, state.weights)
            load_optimizer_state(network.optimizer, network.wrapped, self.ctx, state.optimizer)
            if network.scaler is not None and state.scaler:
                network.scaler.load_state_dict(state.scaler)
            if state.schedule is not None:
                network.schedule.load_state_dict(state.schedule)

    @abstractmethod
    def size_record(self) -> dict[str, Any]:
        """The model size the checkpoint's weights were built with."""

    @abstractmethod
    def extensions(self) -> dict[str, Any]:
        """The optional extensions the model was built with (they change its weights)."""

    def _save(self, loss: float) -> None:
        """Write this step's checkpoint; it is also best.pt when `loss` (the held-out loss
        when clips are held out and evaluated, else the step's) is the lowest so far."""
        best = loss < self.best_loss
        self.best_loss = min(self.best_loss, loss)
        checkpoint = ckpt.Checkpoint(
            step=self.step,
            stage=self.stage,
            config=to_dict(self.cfg),
            size=self.size_record(),
            extensions=self.extensions(),
            networks=self.network_states(),
            sampler=self.sampler.state_dict(),
            oom_guard=self.guard.state_dict(),
            rng=ckpt.rng_state(),
            best_loss=self.best_loss,
        )
        if self.ctx.is_main:
            ckpt.save_checkpoint(
                self.run, checkpoint, keep=self.cfg.train.keep_checkpoints, best=best
            )
        barrier(self.ctx)
        if self.ctx.active:  # ranks' RNG streams restart here, so a resume can repeat them
            _seed_everything(self.cfg.train.seed + self.ctx.rank + 7919 * self.step)

    def _restore(self, checkpoint: ckpt.Checkpoint, path: Path) -> None:
        if checkpoint.stage != self.stage:
            raise ConfigError(
                f"the checkpoint is from the {checkpoint.stage} stage, not {self.stage}"
            )
        if checkpoint.sampler is None or checkpoint.oom_guard is None or checkpoint.rng is None:
            raise InputError(f"{path}: holds weights only (no training state) to resume from")
        saved = checkpoint.config.get("memory", {}).get("optimizer", "")
        if self.optimizer_choice and saved and saved != self.cfg.memory.optimizer:
            raise ConfigError(
                f"{path}: its optimizer states are {saved}, but memory.optimizer=auto chose "
                f"{self.cfg.memory.optimizer} on this device; resume with "
                f"memory.optimizer={saved}"
            )
        self._check_same_size(checkpoint, path)
        self.load_network_states(checkpoint.networks)
        self.sampler.load_state_dict(checkpoint.sampler)
        self.guard.load_state_dict(checkpoint.oom_guard)
        self.step = checkpoint.step
        self.best_loss = checkpoint.best_loss
        if self.ctx.world_size == 1:
            ckpt.restore_rng_state(checkpoint.rng)
        else:  # each rank had its own dropout stream; a fresh one per rank and step
            _seed_everything(self.cfg.train.seed + self.ctx.rank + 7919 * self.step)

    def _check_same_size(self, checkpoint: ckpt.Checkpoint, path: Path) -> None:
        """A checkpoint made at another model size would fail deep in a strict load: say
        which size and version it was made with instead."""
        mine = self.size_record()
        differ = sorted(k for k, v in checkpoint.size.items() if k in mine and mine[k] != v)
        if differ:
            model = checkpoint.config.get("model", {})
            made = f"model.size={model.get('size', '?')}"
            if "version" in model:
                made += f" model.version={model['version']}"
            raise ConfigError(
                f"{path}: made with {made} ({', '.join(differ[:3])} differ from this run's "
                f"model.size={self.cfg.model.size}); resume with {made}, or start a new run "
                "folder"
            )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
