"""Load checkpoint files without running code from them.

`torch.load(weights_only=True)` admits tensors and plain containers only. Official
SoVITS files also pickle their config as a `utils.HParams` object; we admit exactly that
class through a stand-in with the same qualified name (attributes only, no code), and
refuse every other global with a clear error. Official files that start with a 2-byte
version code instead of the zip magic `PK` are read with `PK` restored, as the official
loader does.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from leanvoice.errors import InputError

ZIP_MAGIC = b"PK"
VERSION_HEADERS = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3-lora",
    b"04": "v4-lora",
    b"05": "v2Pro",
    b"06": "v2ProPlus",
}


class OfficialHParams:
    """Stand-in for the official `utils.HParams`: a bag of attributes, nothing else."""

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value.to_dict() if isinstance(value, OfficialHParams) else value
            for key, value in vars(self).items()
        }


OfficialHParams.__module__ = "utils"
OfficialHParams.__qualname__ = OfficialHParams.__name__ = "HParams"


def refusal(path: Path, error: pickle.UnpicklingError) -> str:
    """One line for a file whose pickle names a global that is not admitted: which one,
    and never torch's advice to load it unsafely."""
    named = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f"the global {named.group(1)}" if named else "a global that is not admitted"
    return (
        f"{path}: refused to load: it names {what}, which could run code; only tensors, "
        "plain containers and the official config are admitted"
    )


def read_checkpoint(path: Path) -> tuple[dict[str, Any], str | None]:
    """(the unpickled object, the official version code if the file carried one)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    raw = path.read_bytes()
    if len(raw) < 4:
        raise InputError(f"{path}: file is too short to be a checkpoint")
    version = None
    if raw[:2] != ZIP_MAGIC and raw[:2] in VERSION_HEADERS:
        version = VERSION_HEADERS[raw[:2]]
        raw = ZIP_MAGIC + raw[2:]
    try:
        with torch.serialization.safe_globals([OfficialHParams]):
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(refusal(path, exc)) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable checkpoint (truncated or corrupt: "
            f"{str(exc).splitlines()[0][:160]})"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict checkpoint, found {type(data).__name__}")
    return _plain(data), version


def _plain(value: Any) -> Any:
    """HParams stand-ins → dicts, recursively."""
    if isinstance(value, OfficialHParams):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
