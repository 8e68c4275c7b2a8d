"""Write a generated table into docs/benchmarks.md between its section markers."""

from __future__ import annotations

import os
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"


def write_section(section: str, table: str) -> None:
    """Replace what stands between `<!-- SECTION:begin -->` and `<!-- SECTION:end -->`
    (not when LEANVOICE_BENCH_PRINT_ONLY=1: then the table is only printed)."""
    if os.environ.get("LEANVOICE_BENCH_PRINT_ONLY") == "1":
        return
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    DOC.write_text(f"{head}{begin}\n{table}\n{end}{tail}", encoding="utf-8")
