"""What a run shows and leaves behind: a rich progress bar, TensorBoard scalars and audio,
`metrics.jsonl` (one line per step, cut back to the resumed step on resume) and
`summary.json`. Only rank 0 writes; the other ranks get a monitor that does nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leanvoice.audio.io import write_audio
from leanvoice.fsutil import atomic_write_json, atomic_write_text
from leanvoice.memory.report import format_bytes


class Monitor:
    def __init__(self, run: Path, enabled: bool, console: Console, total_steps: int) -> None:
        self.run, self.enabled, self.console = run, enabled, console
        self.total_steps = total_steps
        self._line_every = max(total_steps // 20, 1)  # about 20 progress lines per run
        self._writer = None
        self._progress: Progress | None = None
        self._task = None
        self._metrics = run / "metrics.jsonl"

    def start(self, step: int) -> None:
        if not self.enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.run / "tensorboard"), purge_step=step or None)
        self._truncate_metrics(step)
        self._progress = Progress(
            TextColumn("[bold]step"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.console.is_terminal,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=self.total_steps, completed=step, status=""
        )

    def _truncate_metrics(self, step: int) -> None:
        """Drop lines written after the checkpoint we resume from (the run will redo them)."""
        if not self._metrics.exists():
            return
        kept = [
            line
            for line in self._metrics.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["step"] <= step
        ]
        atomic_write_text(self._metrics, "".join(line + "\n" for line in kept))

    def step(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self._metrics.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **scalars}) + "\n")
        for name, value in scalars.items():  # held-out figures: valid/loss, valid/top3, …
            tag = f"valid/{name[6:]}" if name.startswith("valid_") else f"train/{name}"
            self._writer.add_scalar(tag, value, step)
        status = (
            f"loss {scalars['loss']:.4g} · {scalars['tokens_per_second']:.0f} tok/s · "
            f"pad eff {scalars['padding_efficiency']:.2f} · "
            f"peak {format_bytes(scalars.get('peak_bytes', 0))}"
        )
        self._progress.update(self._task, completed=step, status=status)
        held_out = {k: v for k, v in scalars.items() if k.startswith("valid_")}
        if held_out:  # rare (train.eval_every): a line in the log, bar or not
            figures = " · ".join(f"{k} {v:.4g}" for k, v in held_out.items())
            self.console.print(f"step {step}: {figures}", soft_wrap=True)
        if not self.console.is_terminal and step % self._line_every == 0:
            # logged output (a file, a scheduler, CI) has no live bar: a line instead
            self.console.print(f"step {step}/{self.total_steps} · {status}", soft_wrap=True)

    def log(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, soft_wrap=True)  # a log line: never wrapped

    def audio(self, tag: str, wave: np.ndarray, sample_rate: int, step: int) -> None:
        """To TensorBoard, and as `auditions/STEP.wav` for players that read files."""
        if self.enabled:
            wave = np.asarray(wave, dtype=np.float32).reshape(-1)
            self._writer.add_audio(tag, wave.reshape(1, -1), step, sample_rate=sample_rate)
            write_audio(self.run / "auditions" / f"{step:08d}.wav", wave, sample_rate)

    def close(self, summary: dict[str, Any] | None) -> None:
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.stop()
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
        if summary is not None:
            atomic_write_json(self.run / "summary.json", summary)
