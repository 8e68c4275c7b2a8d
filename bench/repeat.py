"""Is a benchmark reproducible? Run it twice, each in its own process, and compare every
ratio the two runs measured.

    python -m bench.repeat NAME [ARGS ...]     # NAME: memory, throughput or padding

The first run writes the docs and results as usual; the second writes only into a
temporary folder. The table gives, for each kind of ratio, the largest relative
difference between the runs (goal: within 10 %).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.doc import read_results, results_dir, write_section

FILES = {
    "memory": ("memory-gpt", "memory-sovits"),
    "throughput": ("throughput",),
    "padding": ("padding",),
}


def ratios(name: str, found: dict) -> Iterator[tuple[str, float]]:
    """(kind of ratio, value) for every case of one results file."""
    if name.startswith("memory"):
        base = found["cases"]["official recipe (baseline)"]
        for r in found["cases"].values():
            yield f"{name} peak ×", r["peak"] / base["peak"]
            yield f"{name} step time ×", r["seconds"] / base["seconds"]
    elif name.startswith("throughput"):
        for stage, figures in found.items():
            base = figures["cases"]["official settings"]["per_second"]
            for r in figures["cases"].values():
                yield f"{name}-{stage} useful/s ×", r["per_second"] / base
                yield f"{name}-{stage} fitting clips", r["fitting_clips"]
    else:
        for figures in found.values():
            yield "padding efficiency", figures["leanvoice"]


def run(bench: str, args: list[str], env: dict[str, str]) -> None:
    command = [sys.executable, "-m", f"bench.{bench}", *args]
    subprocess.run(command, check=True, env={**os.environ, **env})


def main(bench: str, args: list[str]) -> None:
    if bench not in FILES:
        raise SystemExit(f"choose one of {', '.join(FILES)}")
    files = FILES[bench]
    if bench == "throughput":
        from bench.throughput import result_name

        files = (result_name(args),)
    run(bench, args, {})
    with tempfile.TemporaryDirectory() as second:
        run(bench, args, {"LEANVOICE_BENCH_PRINT_ONLY": "1", "LEANVOICE_BENCH_RESULTS": second})
        worst: dict[str, float] = {}
        for name in files:
            first_run = list(ratios(name, read_results(name, results_dir())))
            second_run = list(ratios(name, read_results(name, Path(second))))
            for (kind, a), (_, b) in zip(first_run, second_run, strict=True):
                worst[kind] = max(worst.get(kind, 0.0), abs(a - b) / max(abs(a), 1e-12))
    lines = [
        f"{datetime.date.today()}, `python -m bench.repeat {' '.join([bench, *args])}`: "
        "two runs, largest relative difference of each ratio over all cases.",
        "",
        "| ratio | largest difference | within 10 % |",
        "|---|---|---|",
    ]
    for kind, difference in worst.items():
        lines.append(
            f"| {kind} | {100 * difference:.1f} % | {'yes' if difference <= 0.10 else '**no**'} |"
        )
    table = "\n".join(lines)
    print(table)
    write_section(f"repeat-{files[0] if bench == 'throughput' else bench}", table)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
