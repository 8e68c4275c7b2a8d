"""One training step's memory by category, measured, and printed as one table.

    probe = StepMemory(model, optimizer, device)
    with probe:
        for micro_batch in batches:
            with probe.forward():          # counts tensors saved for backward
                loss = model.loss(...)
            loss.backward()
        probe.after_backward()              # gradients as they stand before the step
        optimizer.step()
    report = probe.report()

Peak: on CUDA the allocator's `max_memory_allocated`; elsewhere the live-tensor peak
(`LiveTensorPeak`: every tensor storage alive during the step, counted from creation to
release), which is what an allocator would need without fragmentation.
Activations are the unique storages saved for backward (`SavedTensorMeter`); tensors
kept by selective checkpointing or moved by activation offload live outside autograd's
saved-tensor hooks and show up in the peak only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from leanvoice.memory.accounting import SavedTensorMeter, local, optimizer_state_bytes
from leanvoice.memory.live_peak import LiveTensorPeak


@dataclass
class MemoryReport:
    parameters_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    peak_bytes: int
    device: str
    peak_source: str

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def table(self, title: str = "Memory of one training step"):
        """A rich table: each category, its bytes and its share of the summed categories."""
        from rich.table import Table

        rows = [
            ("parameters", self.parameters_bytes),
            ("gradients", self.gradients_bytes),
            ("optimizer states", self.optimizer_bytes),
            ("saved activations", self.activations_bytes),
        ]
        total = sum(value for _, value in rows) or 1
        table = Table(title=f"{title} ({self.device})")
        table.add_column("category")
        table.add_column("size", justify="right")
        table.add_column("share", justify="right")
        for name, value in rows:
            table.add_row(name, format_bytes(value), f"{100 * value / total:.0f} %")
        table.add_row("peak", format_bytes(self.peak_bytes), self.peak_source, style="bold")
        return table


def format_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parameter_bytes(model: nn.Module) -> int:
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():
        storage = local(parameter).untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def gradient_bytes(model: nn.Module) -> int:
    return sum(local(p.grad).nbytes for p in model.parameters() if p.grad is not None)


class StepMemory:
    """Context manager measuring one full training step (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | object,
        device: torch.device | str = "cpu",
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.device = torch.device(device)
        self._activations = 0
        self._gradients = 0
        self._tracker = None
        self._peak = 0
        self.backward_peak = 0

    def __enter__(self) -> StepMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._start_tracker()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop_tracker(*exc)

    def _existing_tensors(self) -> list[torch.Tensor]:
        tensors = [*self.model.parameters(), *self.model.buffers()]
        tensors += [p.grad for p in self.model.parameters() if p.grad is not None]
        for optimizer in self._plain_optimizers():
            for state in optimizer.state.values():
                tensors += [v for v in state.values() if torch.is_tensor(v)]
        return tensors

    def _plain_optimizers(self) -> list[torch.optim.Optimizer]:
        """`optimizer` may be one optimizer, a list (the GAN's two), or a step-in-backward
        wrapper holding one optimizer per parameter in `.optimizers`."""
        given = self.optimizer if isinstance(self.optimizer, list | tuple) else [self.optimizer]
        plain = []
        for optimizer in given:
            if isinstance(optimizer, torch.optim.Optimizer):
                plain.append(optimizer)
            elif optimizer is not None:
                plain.extend(getattr(optimizer, "optimizers", {}).values())
        return plain

    def _start_tracker(self) -> None:
        if self._tracker is None:
            self._tracker = LiveTensorPeak(self._existing_tensors())
        else:  # resuming after an untraced stretch: count what appeared meanwhile
            for tensor in self._existing_tensors():
                self._tracker.track(tensor)
        self._tracker.__enter__()

    def _stop_tracker(self, *exc: object) -> None:
        self._tracker.__exit__(*exc)
        self._peak = max(self._peak, self._tracker.peak)

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        """Run code the live-tensor tracker cannot trace (torchao's 8-bit step is a
        full-graph `torch.compile`, which refuses to run under a dispatch mode); on CUDA
        the allocator still counts it."""
        if self.device.type == "cuda":
            yield
            return
        self._stop_tracker(None, None, None)
        try:
            yield
        finally:
            self._start_tracker()

    @contextlib.contextmanager
    def forward(self) -> Iterator[SavedTensorMeter]:
        """Wrap one forward pass; may be entered once per micro-batch."""
        with SavedTensorMeter(self.model.parameters()) as meter:
            yield meter
        self._activations = max(self._activations, meter.activation_bytes)

    def after_backward(self) -> None:
        """Call when gradients are complete, before the optimizer step: records the
        gradients and the peak so far (forward + backward, without the step)."""
        self._gradients = max(self._gradients, gradient_bytes(self.model))
        if self.device.type == "cuda":
            self.backward_peak = torch.cuda.max_memory_allocated(self.device)
        elif self._tracker is not None:
            self.backward_peak = max(self._peak, self._tracker.peak)

    def report(self) -> MemoryReport:
        optimizer_bytes = sum(optimizer_state_bytes(o) for o in self._plain_optimizers())
        return MemoryReport(
            parameters_bytes=parameter_bytes(self.model),
            gradients_bytes=self._gradients,
            optimizer_bytes=optimizer_bytes,
            activations_bytes=self._activations,
            peak_bytes=self._peak,
            device=_device_name(self.device),
            peak_source="cuda allocator" if self.device.type == "cuda" else "live tensors",
        )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
