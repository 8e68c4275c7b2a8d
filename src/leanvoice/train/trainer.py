"""The training loop both stages share: setup → loop → save.

A stage (GPT, SoVITS) says how to build its models and optimizers, how to train on a
list of micro-batches, and how to make an audition sample; everything else is here:
the bucketing sampler, accumulation, the OOM guard, checkpoints and exact resume,
distributed setup, the memory report of the first step and the run summary.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import nn

from leanvoice.config.loader import to_dict
from leanvoice.config.schema import Config
from leanvoice.data.sampler import BucketBatchSampler, padding_efficiency
from leanvoice.data.training_sets import ClipSet
from leanvoice.errors import ConfigError
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.report import MemoryReport, StepMemory
from leanvoice.train import checkpoint as ckpt
from leanvoice.train.distributed import (
    DistContext,
    all_reduce_sum,
    any_rank,
    barrier,
    init_distributed,
    shutdown,
)
from leanvoice.train.monitor import Monitor
from leanvoice.train.oom import OOMGuard, free_memory, is_out_of_memory, split_by_budget


class RetryStep(Exception):
    """Some rank ran out of memory in this step: every rank retries it."""


@dataclass
class StepResult:
    loss: float  # the step's loss as the stage defines it (per real token for the GPT)
    real: int  # real (non-pad) tokens or frames trained on
    padded: int  # tokens or frames in the padded tensors


class StageTrainer(ABC):
    stage: str
    budget_key: str

    def __init__(
        self, cfg: Config, data: Path, run: Path, *, resume: str = "auto",
        console: Console | None = None, fault_injector: Any = None,
    ) -> None:  # fmt: skip
        self.cfg, self.data, self.run = cfg, Path(data), Path(run)
        self.resume = resume
        self.console = console or Console(stderr=True)
        self.fault_injector = fault_injector  # tests: called before each micro-batch
        self.step = 0
        self.best_loss = math.inf  # lowest step loss among saved checkpoints (best.pt)
        self.stop_requested = False  # set by SIGTERM: save at the end of this step, stop
        self.replicas_checked = 0
        self.ctx: DistContext | None = None

    # -- what a stage provides -----------------------------------------------------------
    @abstractmethod
    def load_clips(self) -> ClipSet: ...

    @abstractmethod
    def budget(self) -> int: ...

    @abstractmethod
    def build(self) -> None:
        """Create models, optimizers and scalers on `self.ctx.device`."""

    @abstractmethod
    def train_parts(self, parts: list[list[int]], probe: StepMemory | None) -> StepResult:
        """Forward/backward over micro-batches (clip indices) and the optimizer step(s)."""

    @abstractmethod
    def zero_grad(self) -> None: ...

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Models, optimizers, scalers as tensors/plain containers."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...

    def audition(self) -> tuple[np.ndarray, int] | None:
        return None

    # -- shared helpers for stages -------------------------------------------------------
    def before_micro_batch(self, index: int) -> None:
        """Fault injection point (tests raise `torch.OutOfMemoryError` here)."""
        if self.fault_injector is not None:
            self.fault_injector(self.step + 1, index)

    def guarded_forward(self, forward):
        """Run one micro-batch's forward; if any rank ran out of memory, all retry."""
        try:
            result, failed = forward(), False
        except torch.OutOfMemoryError:
            result, failed = None, True
        if any_rank(failed, self.ctx):
            raise RetryStep
        return result

    def optimizer_step(self, optimizer: Any, scaler: Any, probe: StepMemory | None) -> None:
        """Step (through the GradScaler under fp16) and clear gradients; a step-in-backward
        optimizer has already stepped. torchao's 8-bit step is a compiled graph that the
        CPU live-tensor probe cannot trace, so it runs untraced there."""
        if isinstance(optimizer, OptimizerInBackward):
            return
        untraced = probe is not None and self.cfg.memory.optimizer == "adamw8bit"
        with probe.untraced() if untraced else contextlib.nullcontext():
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # -- the loop ------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        self.ctx = init_distributed(cfg.train.device, cfg.train.world_size)
        if self.ctx.active and cfg.memory.optimizer == "adamw_in_backward":
            raise ConfigError(
                "memory.optimizer=adamw_in_backward steps before DDP has averaged the "
                "gradients; use adamw or adamw8bit with more than one process"
            )
        _seed_everything(cfg.train.seed)
        self.clips = self.load_clips()
        self.sampler = BucketBatchSampler(
            self.clips.lengths, self.budget(), seed=cfg.train.seed,
            num_buckets=cfg.train.buckets, world_size=self.ctx.world_size,
            rank=self.ctx.rank, tail=cfg.train.tail, fixed_batch=cfg.train.fixed_batch,
            max_samples=cfg.data.max_clips,
        )  # fmt: skip
        self.build()
        _seed_everything(cfg.train.seed + self.ctx.rank)  # dropout differs per rank
        budget = self.budget()
        if cfg.train.fixed_batch:  # fixed batches are not split unless memory runs out
            budget = max(len(b) * max(self.clips.lengths[i] for i in b)
                         for b in self.sampler.global_batches(0))  # fmt: skip
        self.guard = OOMGuard(budget, max_in_a_row=cfg.train.max_oom_retries)
        monitor = Monitor(self.run, self.ctx.is_main, self.console, cfg.train.max_steps)
        loaded = ckpt.load_for_resume(self.run, self.resume, monitor.log)
        if loaded is not None:
            self._restore(loaded.state)
            monitor.log(f"resumed from {loaded.path} at step {self.step}")
        if self.ctx.is_main:
            self.run.mkdir(parents=True, exist_ok=True)
        monitor.start(self.step)
        summary = None
        previous = self._catch_stop_signal()
        try:
            summary = self._loop(monitor)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            monitor.close(summary)
            barrier(self.ctx)
            shutdown(self.ctx)
        return summary

    def _loop(self, monitor: Monitor) -> dict[str, Any]:
        cfg = self.cfg
        batches = iter(self.sampler)
        report: MemoryReport | None = None
        real_total, padded_total, seconds_total, loss = 0, 0, 0.0, math.nan
        cpu_total = 0.0  # this process's CPU seconds: a rate other work barely moves
        start_step = self.step
        while self.step < cfg.train.max_steps:
            group = [next(batches) for _ in range(cfg.train.grad_accum)]
            started, cpu_started = time.perf_counter(), time.process_time()
            probe = None
            if report is None:
                probe = StepMemory(self.primary_model(), self.primary_optimizer(), self.ctx.device)
            result = self._guarded_step(group, probe, monitor)
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            if probe is not None:
                report = probe.report()
                if self.ctx.is_main:
                    self.console.print(report.table(f"{self.stage} training step"))
            self.step += 1
            if probe is None or cfg.train.max_steps - start_step == 1:
                # the measured step runs under the memory probe, slower: not timed
                real_total += result.real
                padded_total += result.padded
                seconds_total += seconds
                cpu_total += cpu_seconds
            loss = result.loss
            monitor.step(self.step, {
                "loss": loss, "tokens_per_second": result.real / max(seconds, 1e-9),
                "padding_efficiency": result.real / max(result.padded, 1),
                "peak_bytes": report.peak_bytes, "micro_batch_budget": self.guard.budget,
                # this rank's step: what a benchmark needs to time each step on its own
                "real_tokens": result.real, "seconds": seconds, "cpu_seconds": cpu_seconds,
            })  # fmt: skip
            if cfg.train.check_replicas and self.ctx.active and cfg.train.distributed == "ddp":
                self._check_replicas()
            last = self.step == cfg.train.max_steps
            stopping = any_rank(self.stop_requested, self.ctx)
            if stopping and not last:
                self._save(loss)
                monitor.log(f"stopped at step {self.step} on request; resume with --resume auto")
                break
            if cfg.train.save_every and (self.step % cfg.train.save_every == 0 or last):
                self._save(loss)
            if cfg.train.audition_every and (self.step % cfg.train.audition_every == 0 or last):
                sample = self.audition()
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
            "out_of_memory_retries": self.guard.total,
            "world_size": self.ctx.world_size,
            "replicas_checked": self.replicas_checked,
            "memory": {k: v for k, v in report.as_dict().items() if k != "peak_source"},
            "config": to_dict(self.cfg),
        }

    def _guarded_step(self, group, probe, monitor: Monitor) -> StepResult:
        while True:
            parts = [
                part
                for batch in group
                for part in split_by_budget(batch, self.clips.lengths, self.guard.budget)
            ]
            try:
                result = self.train_parts(parts, probe)
            except RetryStep:
                pass
            except Exception as error:  # OOM outside a guarded forward (backward, step)
                if not is_out_of_memory(error) or self.ctx.active:
                    raise
            else:
                self.guard.succeeded()
                return result
            self.zero_grad()
            free_memory()
            monitor.log(self.guard.failed(self.step + 1, self.budget_key))

    def _check_replicas(self) -> None:
        """Debug check: every rank's trainable weights must be identical after a step."""
        import torch.distributed as dist

        from leanvoice.memory.accounting import local

        params = [local(p.detach()).double() for p in self.primary_model().parameters()
                  if p.requires_grad]  # fmt: skip
        mine = torch.stack([p.sum() for p in params] + [p.abs().sum() for p in params]).cpu()
        gathered = [torch.empty_like(mine) for _ in range(self.ctx.world_size)]
        dist.all_gather(gathered, mine)
        if any(not torch.equal(other, gathered[0]) for other in gathered):
            raise RuntimeError(f"rank weights differ after step {self.step}")
        self.replicas_checked += 1

    # -- checkpoints ---------------------------------------------------------------------
    def _catch_stop_signal(self):
        """SIGTERM (what `kill`, the web UI's stop button and a scheduler send) asks the
        loop to finish its step, write a checkpoint and end; returns the handler to put
        back. Only the main thread may install one."""
        if threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stop_requested", True))

    def _save(self, loss: float) -> None:
        """Write this step's checkpoint; it is also best.pt when `loss` is the lowest so far."""
        best = loss < self.best_loss
        self.best_loss = min(self.best_loss, loss)
        state = {
            "step": self.step, "stage": self.stage, **self.state(),
            "sampler": self.sampler.state_dict(), "oom_guard": self.guard.state_dict(),
            "rng": ckpt.rng_state(), "config": to_dict(self.cfg), "best_loss": self.best_loss,
        }  # fmt: skip
        if self.ctx.is_main:
            ckpt.save_checkpoint(self.run, self.step, state, keep=self.cfg.train.keep_checkpoints,
                                 best=best)  # fmt: skip
        barrier(self.ctx)
        if self.ctx.active:  # ranks' RNG streams restart here, so a resume can repeat them
            _seed_everything(self.cfg.train.seed + self.ctx.rank + 7919 * self.step)

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("stage") != self.stage:
            raise ConfigError(
                f"the checkpoint is from the {state.get('stage')} stage, not {self.stage}"
            )
        self.load_state(state)
        self.sampler.load_state_dict(state["sampler"])
        self.guard.load_state_dict(state["oom_guard"])
        self.step = int(state["step"])
        self.best_loss = float(state.get("best_loss", math.inf))
        if self.ctx.world_size == 1:
            ckpt.restore_rng_state(state["rng"])
        else:  # each rank had its own dropout stream; a fresh one per rank and step
            _seed_everything(self.cfg.train.seed + self.ctx.rank + 7919 * self.step)

    # -- for the memory report -----------------------------------------------------------
    @abstractmethod
    def primary_model(self) -> nn.Module: ...

    @abstractmethod
    def primary_optimizer(self) -> Any: ...


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
