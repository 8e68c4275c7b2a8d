"""Training checkpoints: written atomically, kept last-N plus best, resumed exactly.

A checkpoint is one `torch.save` dict (model, optimizer, scaler, sampler, RNG states,
step, config). It is written to a temporary file in the run folder, fsynced and renamed,
so a crash leaves either the old set or the new file, never half a file. Reading uses
`weights_only=True`; a truncated or corrupt file is reported by name and the one before
it is used.
"""

from __future__ import annotations

import io
import pickle
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanvoice.compat.safe_load import refusal
from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write

_NAME = re.compile(r"^step-(\d{8})\.pt$")
BEST = "best.pt"


@dataclass
class LoadedCheckpoint:
    path: Path
    state: dict[str, Any]
    skipped: list[str]  # messages about newer files that could not be read


def checkpoint_path(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:08d}.pt"


def list_checkpoints(run: Path) -> list[Path]:
    """Step checkpoints, oldest first."""
    folder = run / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def save_checkpoint(
    run: Path, step: int, state: dict[str, Any], *, keep: int, best: bool = False
) -> Path:
    """Write `state` atomically as step-N.pt; prune to the newest `keep`; copy to best.pt."""
    data = io.BytesIO()
    torch.save(state, data)
    path = checkpoint_path(run, step)
    atomic_write(path, lambda tmp: tmp.write_bytes(data.getvalue()))
    if best:
        atomic_write(path.parent / BEST, lambda tmp: tmp.write_bytes(data.getvalue()))
    for old in list_checkpoints(run)[: -max(keep, 1)]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint_file(path: Path) -> dict[str, Any]:
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
    if not isinstance(state, dict) or "step" not in state or "model" not in state:
        raise InputError(f"{path}: not a LeanVoice training checkpoint")
    return state


def load_for_resume(run: Path, resume: str, warn: Callable[[str], None]) -> LoadedCheckpoint | None:
    """`resume`: "auto" (newest readable in RUN, or None to start fresh), "none", or a path
    (which must be readable)."""
    if resume == "none":
        return None
    if resume != "auto":
        path = Path(resume)
        return LoadedCheckpoint(path, read_checkpoint_file(path), [])
    skipped = []
    for path in reversed(list_checkpoints(run)):
        try:
            return LoadedCheckpoint(path, read_checkpoint_file(path), skipped)
        except InputError as error:
            skipped.append(f"{error}; using the one before")
            warn(skipped[-1])
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
