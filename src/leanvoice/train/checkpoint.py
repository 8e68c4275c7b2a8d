"""Training checkpoints: written atomically, kept last-N plus best, resumed exactly.

`Checkpoint` is the file's content, typed: `to_state` is its one writer and
`from_state` its one reader (training, resume, synthesis, export and import all go
through them). On disk it is one flat `torch.save` dict, as earlier releases wrote it:
`step`, `stage`, `config`, `size`, `extensions`, each network's weights, optimizer,
scaler and schedule under its keys, then `sampler`, `oom_guard`, `rng`, `best_loss`.
It is written to a temporary file in the run folder, fsynced and renamed, so a crash
leaves either the old set or the new file, never half a file. Reading uses
`weights_only=True`; a truncated or corrupt file is reported by name and the one before
it is used.
"""

from __future__ import annotations

import io
import math
import pickle
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanvoice.compat.safe_load import refusal
from leanvoice.errors import InputError, OutputError
from leanvoice.fsutil import atomic_write

_NAME = re.compile(r"^step-(\d{8})\.pt$")
BEST = "best.pt"


# A network's keys in the file, by its name in the trainer: (weights, optimizer, scaler);
# its schedule is `<optimizer>_schedule`. The one mapping between the names and the
# files, which have kept these keys since the first release (old run folders resume).
ON_DISK = {
    "gpt": ("model", "optimizer", "scaler"),
    "generator": ("model", "optimizer", "scaler"),
    "discriminator": ("discriminator", "d_optimizer", "d_scaler"),
}
# the network whose weights a stage's file holds under "model"
MAIN_NETWORK = {"gpt": "gpt", "sovits": "generator"}


@dataclass
class NetworkState:
    weights: dict[str, Any]
    optimizer: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] | None = None


@dataclass
class Checkpoint:
    """What a training checkpoint holds. An imported official model is one too, with
    no optimizer or sampler state (`step` 0)."""

    step: int
    stage: str  # "gpt" | "sovits"
    config: dict[str, Any]
    size: dict[str, Any]  # the model size the weights were built with
    extensions: dict[str, Any]  # optional extensions that change the weights
    networks: dict[str, NetworkState]  # by network: "gpt" | "generator", "discriminator"
    sampler: dict[str, Any] | None = None
    oom_guard: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    best_loss: float = math.inf

    @property
    def weights(self) -> dict[str, Any]:
        """The model's weights (the generator's for SoVITS)."""
        return self.networks[MAIN_NETWORK.get(self.stage, "gpt")].weights

    @property
    def lora(self) -> dict[str, Any]:
        """The LoRA settings the weights were trained with (rank 0: none)."""
        return self.config.get("memory", {}).get("lora", {})

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "stage": self.stage,
            "config": self.config,
            "size": self.size,
            "extensions": self.extensions,
        }
        for name, network in self.networks.items():
            key, optimizer_key, scaler_key = ON_DISK[name]
            state[key] = network.weights
            state[optimizer_key] = network.optimizer
            state[scaler_key] = network.scaler
            if network.schedule is not None:
                state[f"{optimizer_key}_schedule"] = network.schedule
        for name in ("sampler", "oom_guard", "rng"):
            if getattr(self, name) is not None:
                state[name] = getattr(self, name)
        state["best_loss"] = self.best_loss
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], path: Path) -> Checkpoint:
        if not isinstance(state, dict) or "stage" not in state or "model" not in state:
            raise InputError(f"{path}: not a LeanVoice training checkpoint")
        networks = {}
        stage = str(state["stage"])
        for name in (MAIN_NETWORK.get(stage, "gpt"), "discriminator"):
            key, optimizer_key, scaler_key = ON_DISK[name]
            if key in state:
                networks[name] = NetworkState(
                    state[key],
                    state.get(optimizer_key) or {},
                    state.get(scaler_key) or {},
                    state.get(f"{optimizer_key}_schedule"),
                )
        return cls(
            step=int(state.get("step", 0)),
            stage=stage,
            config=state.get("config") or {},
            size=state.get("size") or {},
            extensions=state.get("extensions") or {},
            networks=networks,
            sampler=state.get("sampler"),
            oom_guard=state.get("oom_guard"),
            rng=state.get("rng"),
            best_loss=float(state.get("best_loss", math.inf)),
        )


@dataclass
class LoadedCheckpoint:
    path: Path
    checkpoint: Checkpoint
    skipped: list[str]  # messages about newer files that could not be read


def checkpoint_path(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:08d}.pt"


def list_checkpoints(run: Path) -> list[Path]:
    """Step checkpoints, oldest first."""
    folder = run / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def save_checkpoint(run: Path, checkpoint: Checkpoint, *, keep: int, best: bool = False) -> Path:
    """Write atomically as step-N.pt; prune to the newest `keep`; copy to best.pt."""
    path = checkpoint_path(run, checkpoint.step)
    data = _serialise(checkpoint)
    for target in (path, path.parent / BEST) if best else (path,):
        try:
            atomic_write(target, lambda tmp: tmp.write_bytes(data))
        except OSError as error:
            # the newest on disk is whole (writes are atomic): the step just written when
            # only best.pt failed, else the newest before it
            kept = list_checkpoints(run)
            raise OutputError(
                f"{target}: could not write the checkpoint ({error.strerror}); "
                + (f"{kept[-1].name} is kept, resume from it" if kept else "no checkpoint is kept")
            ) from None
    for old in list_checkpoints(run)[: -max(keep, 1)]:
        if old != path:  # never the one just written
            old.unlink(missing_ok=True)
    return path


def start_afresh(run: Path, overwrite: bool) -> Path | None:
    """Before a `--resume none` run: a folder that holds another run's checkpoints is
    refused, or with `overwrite` that run (checkpoints, metrics, summary, TensorBoard,
    auditions) is moved to `run/previous-TIME/`, which is returned."""
    existing = list_checkpoints(run)
    if not existing:
        return None
    if not overwrite:
        raise InputError(
            f"{run}: holds a run (newest {existing[-1].name}); --resume none would mix two "
            "runs: use another --out, --resume auto to go on, or --overwrite to move it aside"
        )
    aside = run / time.strftime("previous-%Y%m%d-%H%M%S")
    aside.mkdir()
    for item in run.iterdir():
        if item != aside and not item.name.startswith(("previous-", ".")):
            item.rename(aside / item.name)
    return aside


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Serialised first, then written atomically."""
    data = _serialise(checkpoint)
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def _serialise(checkpoint: Checkpoint) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint.to_state(), buffer)
    return buffer.getvalue()


def read_checkpoint_file(path: Path) -> Checkpoint:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: checkpoint not found") from None
    except pickle.UnpicklingError as error:
        raise InputError(refusal(path, error)) from None
    except Exception as error:  # torch raises several types for truncated zips
        raise InputError(
            f"{path}: checkpoint is truncated or corrupt ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'unreadable'})"
        ) from None
    return Checkpoint.from_state(state, path)


def load_for_resume(run: Path, resume: str, warn: Callable[[str], None]) -> LoadedCheckpoint | None:
    """`resume`: "auto" (newest readable in RUN, or None to start fresh), "none", or a path
    (which must be readable)."""
    if resume == "none":
        return None
    if resume != "auto":
        path = Path(resume)
        return LoadedCheckpoint(path, read_checkpoint_file(path), [])  # must be readable
    skipped = []
    newest_first = list(reversed(list_checkpoints(run)))
    for index, path in enumerate(newest_first):
        try:
            return LoadedCheckpoint(path, read_checkpoint_file(path), skipped)
        except InputError as error:
            if index + 1 < len(newest_first):
                skipped.append(f"{error}; using {newest_first[index + 1].name}")
                warn(skipped[-1])
            else:
                skipped.append(str(error))
    if skipped:
        raise InputError(f"{run}: no readable checkpoint to resume from ({skipped[-1]})")
    return None


def rng_state() -> dict[str, Any]:
    state = {
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": _numpy_state_to_tensors(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_python_state_from_tensor(state["python"]))
    np.random.set_state(_numpy_state_from_tensors(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# weights_only loading admits tensors and plain containers: RNG states are stored so.
def _python_state_to_tensor(state: tuple) -> dict[str, Any]:
    version, internal, gauss = state
    return {
        "version": version,
        "internal": torch.tensor(internal, dtype=torch.int64),
        "gauss": gauss,
    }


def _python_state_from_tensor(state: dict[str, Any]) -> tuple:
    return (state["version"], tuple(int(x) for x in state["internal"]), state["gauss"])


def _numpy_state_to_tensors(state: tuple) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = state
    return {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_from_tensors(state: dict[str, Any]) -> tuple:
    keys = state["keys"].numpy().astype(np.uint32)
    return (state["kind"], keys, state["pos"], state["has_gauss"], state["cached"])
