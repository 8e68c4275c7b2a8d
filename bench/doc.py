"""Write a generated table into docs/benchmarks.md between its section markers."""

from __future__ import annotations

import json
import os
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"


def write_section(section: str, table: str) -> None:
    """Replace what stands between `<!-- SECTION:begin -->` and `<!-- SECTION:end -->`,
    or append the section when the doc has none yet (not when LEANVOICE_BENCH_PRINT_ONLY=1:
    then the table is only printed)."""
    if os.environ.get("LEANVOICE_BENCH_PRINT_ONLY") == "1":
        return
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = DOC.read_text(encoding="utf-8")
    if begin not in text:  # a new kind of run (another device or size): append it
        DOC.write_text(f"{text.rstrip()}\n\n{begin}\n{table}\n{end}\n", encoding="utf-8")
        return
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    DOC.write_text(f"{head}{begin}\n{table}\n{end}{tail}", encoding="utf-8")


def results_dir() -> Path:
    """Where benchmarks leave their measured figures as JSON (for the goals table, the
    plot and the repeatability check); LEANVOICE_BENCH_RESULTS moves it."""
    return Path(os.environ.get("LEANVOICE_BENCH_RESULTS", DOC.parent / "bench-results"))


def write_results(name: str, results: dict) -> Path | None:
    """Not under LEANVOICE_BENCH_PRINT_ONLY=1, unless LEANVOICE_BENCH_RESULTS names a folder."""
    if os.environ.get("LEANVOICE_BENCH_PRINT_ONLY") == "1" and not os.environ.get(
        "LEANVOICE_BENCH_RESULTS"
    ):
        return None
    path = results_dir() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_results(name: str, folder: Path | None = None) -> dict | None:
    path = (folder or results_dir()) / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
