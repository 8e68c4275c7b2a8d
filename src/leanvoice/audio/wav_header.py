"""What a RIFF/WAVE header promises against what the file holds: a WAV cut short (an
interrupted copy or download) decodes without error as a shorter clip, and its
transcript then no longer matches the audio."""

from __future__ import annotations

import struct
from pathlib import Path

STREAMING_SIZES = (0, 0xFFFFFFFF)  # writers that did not know the length leave these


def wav_truncation(path: Path) -> tuple[float, float] | None:
    """(seconds the header declares, seconds present) when the data chunk is cut short;
    None for complete files, non-WAV files and streaming headers."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        byte_rate = 0
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size)
                if len(fmt) < 12:
                    return None
                byte_rate = struct.unpack("<I", fmt[8:12])[0]
                if size % 2:
                    handle.seek(1, 1)
            elif name == b"data":
                if size in STREAMING_SIZES or byte_rate == 0:
                    return None
                present = Path(path).stat().st_size - handle.tell()
                if present >= size:
                    return None
                return size / byte_rate, max(present, 0) / byte_rate
            else:
                handle.seek(size + size % 2, 1)
