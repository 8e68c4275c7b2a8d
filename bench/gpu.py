"""`leanvoice bench gpu`: one command for a GPU session, both stages side by side with the
official recipe, in one run (about 6 minutes on one H100/H200 with the default grids).

    leanvoice bench gpu                                # --device cuda --size v2
    python -m bench.gpu --device cpu --size tiny --grid-gpt 1,2 --grid-sovits 1 \\
        --budgets-mib 64 --planner-budgets-mib 64    # the same code, tiny, on a CPU
    leanvoice bench gpu --parts pro                  # only the v2Pro/v2ProPlus SoVITS rows
    leanvoice bench gpu --parts v4                   # the v4 rows (bench/cfm_memory.py)
    leanvoice bench gpu --parts v5                   # the same for v5dev (no bootstrap)

0. The optimizer step alone, torch's (fused) AdamW against bitsandbytes' 8-bit AdamW.
1. Steps over a batch grid of identical 10 s clips (GPT 120 phonemes + 250 codes, SoVITS
   500 frames, generator losses), every case in a process of its own: the official
   settings (our model, SDPA attention), the same with the official code's attention
   (materialised scores and float masks), each preset, checkpoint all + bf16 + AdamW, and
   compile off/on. Peak = the allocator's peak of the measured step minus what was live
   before; time = the fastest of 4 synchronised steps. From the grid: peak and step time
   at equal batch, and useful tokens (frames) per second at equal memory (the largest
   batch of the grid whose peak is under 90 % of each budget).
1b. (part `pro`) The same SoVITS grid for the v2Pro and v2ProPlus generators, with a
   random speaker embedding (B, 20480) in the batch, against the official recipe's
   settings for those versions (fp16-mixed, no checkpointing, AdamW); the speaker layers
   (`sovits.speaker`, sv_emb's 21 M parameters) frozen gets a row of its own.
2. The planner against the runs it plans: the `small` preset (memory.optimizer=auto) is
   planned with `--data` for each budget, then trained with the plan's overrides for one
   epoch in a fresh process; its summary's peak against the plan's prediction.

The data is the demo corpus prepared here (its real phoneme and frame counts, its real
audio) with random features of the size's dimensions, eight copies of each clip: the
values of SSL/BERT features and codes do not change memory or time. Results go to
`docs/bench-results/gpu-*.json` and a section of docs/benchmarks.md headed with the
device's name.
"""

from __future__ import annotations

import argparse
import datetime
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench import optimizer_step
from bench.doc import read_results, write_results, write_section
from bench.isolate import run_case
from bench.memory import SPEAKER_FROZEN, split_stage
from leanvoice.config import load_config
from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import load_size

GPT_CLIP = {"phonemes": 120, "codes": 250}  # a 10 s clip
SOVITS_CLIP = {"phonemes": 120, "frames": 500}
GRIDS = {"gpt": (4, 8, 16, 32, 64, 128), "sovits": (2, 4, 8, 16, 32)}
EQUAL_MEMORY_GIB = (4, 8)  # budgets for useful tokens/s at equal memory
PLANNER_GIB = (4, 8, 16)
HEADROOM = 0.1  # as the planner's default
COPIES = 8  # copies of each demo clip in the planner's dataset
OFFICIAL = "official settings"
OPTIMIZER_CASES = ("torch AdamW", "bitsandbytes AdamW8bit")
OFFICIAL_ATTENTION = "official settings, official attention"
PRO_VERSIONS = ("v2Pro", "v2ProPlus")  # SoVITS versions of part `pro`: stage sovits-VERSION


# -- 1. steps over a batch grid ----------------------------------------------------------
def step_cases(
    stage: str, device: str, with_compile: bool = True, compile_sovits: bool = False
) -> dict[str, dict]:
    """name → {"memory": MemoryConfig fields, "official_attention", "compile"}. The
    official recipe runs fp16-mixed on CUDA (fp32 on a CPU) with its own optimizer
    (ScaledAdam for the GPT, AdamW for SoVITS); the presets keep their own settings.
    Compiled: the official settings and the small preset for the GPT; SoVITS's small
    preset only on request (its many distinct modules take minutes to compile).
    `sovits-v2Pro`/`sovits-v2ProPlus`: SoVITS's cases without the scratch preset, plus the
    small preset with the speaker layers frozen (`memory.freeze=[sovits.speaker]`)."""
    stage, version = split_stage(stage)
    on_cpu = torch.device(device).type == "cpu"
    official = MemoryConfig(
        checkpoint="none",
        precision="fp32" if on_cpu else "fp16",
        optimizer="scaled_adam" if stage == "gpt" else "adamw",
    )
    cases: dict[str, tuple[MemoryConfig, bool, bool]] = {OFFICIAL: (official, False, False)}
    if stage == "gpt":
        cases[OFFICIAL_ATTENTION] = (official, True, False)
    presets = ("timbre", "small", "scratch") if stage == "gpt" else ("small", "scratch")
    for preset in presets:
        cases[f"preset {preset}"] = (replace(load_config(preset).memory, freeze=[]), False, False)
    # auto keeps AdamW wherever it fits: the 8-bit step's whole-step cost gets its own row
    small_8bit = replace(cases["preset small"][0], optimizer="adamw8bit")
    cases["preset small, 8-bit states"] = (small_8bit, False, False)
    lean = replace(official, checkpoint="all", precision="bf16", optimizer="adamw")
    cases["checkpoint all + bf16 + AdamW"] = (lean, False, False)
    if version != "v2":
        del cases["preset scratch"]
        frozen = replace(cases["preset small"][0], freeze=["sovits.speaker"])
        cases[f"preset small{SPEAKER_FROZEN}"] = (frozen, False, False)
    if with_compile and (stage == "gpt" or compile_sovits):
        if stage == "gpt":
            cases[f"{OFFICIAL}, compiled"] = (official, False, True)
        cases["preset small, compiled"] = (cases["preset small"][0], False, True)
    return {
        name: {"memory": memory, "official_attention": attention, "compile": compiled}
        for name, (memory, attention, compiled) in cases.items()
    }


def _clip_batch(
    stage: str, size_name: str, samples: int, version: str = "v2"
) -> tuple[torch.Tensor, ...]:
    """`samples` identical 10 s clips with random features (Pro SoVITS: and a random
    speaker embedding (B, sv_dim) last)."""
    size = load_size(size_name, version)
    g = torch.Generator().manual_seed(0)
    if stage == "gpt":
        x = torch.randint(1, 700, (samples, GPT_CLIP["phonemes"]), generator=g)
        y = torch.randint(0, 1024, (samples, GPT_CLIP["codes"]), generator=g)
        bert = torch.randn(samples, size.gpt.bert_dim, GPT_CLIP["phonemes"], generator=g)
        x_lens = torch.full((samples,), GPT_CLIP["phonemes"])
        return x, x_lens, bert, y, torch.full((samples,), GPT_CLIP["codes"])
    from leanvoice.audio.spectrogram import linear_spectrogram

    sovits, frames = size.sovits, SOVITS_CLIP["frames"]
    ssl = torch.randn(samples, sovits.ssl_dim, frames, generator=g)
    wave = 0.1 * torch.randn(samples, frames * sovits.hop_length, generator=g)
    spec = linear_spectrogram(wave, sovits.n_fft, sovits.hop_length, sovits.win_length)
    phonemes = torch.randint(1, 700, (samples, SOVITS_CLIP["phonemes"]), generator=g)
    lens = torch.full((samples,), frames)
    batch = ssl, spec, lens, phonemes, torch.full((samples,), SOVITS_CLIP["phonemes"])
    if sovits.sv_dim:
        return *batch, torch.randn(samples, sovits.sv_dim, generator=g)
    return batch


def clip_cost(stage: str) -> int:
    """Useful tokens (GPT: phonemes + codes) or frames (SoVITS, any version) of one grid
    clip."""
    return GPT_CLIP["phonemes"] + GPT_CLIP["codes"] if stage == "gpt" else SOVITS_CLIP["frames"]


def grid_case(stage: str, name: str, size_name: str, device: str, grid: list[int]) -> list[dict]:
    """One case over the grid, in this (fresh) process; stops at the first batch that
    runs out of memory. `stage`: gpt, sovits or sovits-VERSION."""
    from bench.memory import _run
    from leanvoice.train.oom import free_memory

    case = step_cases(stage, device)[name]
    model, version = split_stage(stage)
    rows = []
    for samples in grid:
        batch = _clip_batch(model, size_name, samples, version)
        try:
            found = _run(
                model,
                case["memory"],
                batch,
                device,
                size_name=size_name,
                official_attention=case["official_attention"],
                compile_blocks=case["compile"],
                version=version,
            )
        except torch.OutOfMemoryError:
            rows.append({"batch": samples, "out_of_memory": True})
            break
        finally:
            del batch
            free_memory()
        rows.append({"batch": samples, "peak": found["peak"], "seconds": found["wall_seconds"]})
    return rows


def equal_memory(rows: list[dict], budget: int, stage: str) -> dict | None:
    """The largest grid batch under 90 % of `budget`, and its useful tokens per second."""
    fitting = [r for r in rows if "peak" in r and r["peak"] <= (1 - HEADROOM) * budget]
    if not fitting:
        return None
    best = max(fitting, key=lambda r: r["batch"])
    return {
        "batch": best["batch"],
        "per_second": best["batch"] * clip_cost(stage) / best["seconds"],
    }


def render_steps(stage: str, results: dict[str, list[dict]], budgets: list[int]) -> str:
    """Peak MiB (× official) / step ms (× official) per batch, then tokens/s at equal memory
    against both official rows."""
    grid = sorted({r["batch"] for rows in results.values() for r in rows})
    base = {r["batch"]: r for r in results[OFFICIAL] if "peak" in r}
    header = f"| case | {' | '.join(f'batch {n}' for n in grid)} |"
    lines = [header, "|---" * (len(grid) + 1) + "|"]
    for name, rows in results.items():
        by_batch = {r["batch"]: r for r in rows}
        cells = []
        for n in grid:
            row = by_batch.get(n)
            if row is None:
                cells.append("")
            elif "peak" not in row:
                cells.append("out of memory")
            else:
                mib, ms = row["peak"] / 2**20, 1000 * row["seconds"]
                if n in base and name != OFFICIAL:
                    ratio_peak = row["peak"] / base[n]["peak"]
                    ratio_time = row["seconds"] / base[n]["seconds"]
                    cells.append(f"{mib:.0f} ({ratio_peak:.2f}) / {ms:.0f} ({ratio_time:.2f}×)")
                else:
                    cells.append(f"{mib:.0f} / {ms:.0f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    unit = "tokens" if stage == "gpt" else "frames"
    lines += ["", f"| case | {' | '.join(_budget_name(b) for b in budgets)} |"]
    lines.append("|---" * (len(budgets) + 1) + "|")
    references = [OFFICIAL, OFFICIAL_ATTENTION] if OFFICIAL_ATTENTION in results else [OFFICIAL]
    for name, rows in results.items():
        cells = []
        for budget in budgets:
            found = equal_memory(rows, budget, stage)
            if found is None:
                cells.append("does not fit")
                continue
            cell = f"{found['per_second']:,.0f} {unit}/s (batch {found['batch']})"
            for reference in references:
                other = equal_memory(results[reference], budget, stage)
                if other is not None and name != reference:
                    short = "official" if reference == OFFICIAL else "official attention"
                    cell += f", {found['per_second'] / other['per_second']:.2f}× {short}"
            cells.append(cell)
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _budget_name(budget: int) -> str:
    return f"{budget / 2**30:g} GiB" if budget >= 2**30 else f"{budget / 2**20:g} MiB"


# -- 2. the planner against the runs it plans --------------------------------------------
def random_feature_dataset(out: Path, size_name: str, copies: int = COPIES) -> Path:
    """The demo corpus prepared into `out` (real text, audio and lengths), each clip
    `copies` times, with random features of the size's dimensions."""
    from leanvoice.data.manifest import read_manifest, write_manifest
    from leanvoice.data.prepare import prepare_dataset
    from leanvoice.demo import demo_corpus_list

    prepare_dataset(demo_corpus_list(), out, load_config(overrides=[f"model.size={size_name}"]))
    size = load_size(size_name)
    rng = np.random.default_rng(0)
    for folder in ("ssl", "bert", "semantic"):
        (out / folder).mkdir(exist_ok=True)
    records = []
    for clip in read_manifest(out):
        for copy in range(copies):
            key = f"{clip.id}-{copy}"
            codes = clip.frames // 2
            phonemes = len(clip.phoneme_ids)
            features = {
                "ssl": rng.standard_normal((size.sovits.ssl_dim, clip.frames)),
                "bert": rng.standard_normal((size.gpt.bert_dim, phonemes)),
            }
            for folder, array in features.items():
                np.save(out / folder / f"{key}.npy", array.astype(np.float16))
            np.save(out / "semantic" / f"{key}.npy", rng.integers(0, 1024, codes).astype(np.int16))
            records.append(
                replace(
                    clip,
                    id=key,
                    ssl_path=f"ssl/{key}.npy",
                    bert_path=f"bert/{key}.npy",
                    semantic_path=f"semantic/{key}.npy",
                    semantic_tokens=codes,
                )
            )
    write_manifest(out, records)
    return out


def _planner_config(size_name: str, device: str, extra: list[str] = ()):
    return load_config(
        "small",
        overrides=[
            f"model.size={size_name}",
            f"train.device={device}",
            "train.audition_every=0",
            "train.save_every=0",
            *extra,
        ],
    )


def plan_case(stage: str, size_name: str, device: str, data: str, budgets: list[int]) -> list:
    """The small preset planned with --data for each budget (one calibration, reused)."""
    from leanvoice.plan.planner import make_plan

    cfg, lines, plans = _planner_config(size_name, device), None, []
    for budget in budgets:
        started = time.perf_counter()
        plan = make_plan(stage, cfg, budget, data=Path(data), device=device, lines=lines)
        lines = plan.lines
        plans.append({**plan.as_json(), "seconds": time.perf_counter() - started})
    return plans


def train_case(stage: str, size_name: str, device: str, data: str, overrides: list, out: str):
    """One epoch with the plan's overrides (each batch the sampler forms is met once);
    the summary's peak (the costliest step besides the first)."""
    from leanvoice.plan.planner import epoch_batches
    from leanvoice.train import train_stage

    cfg = _planner_config(size_name, device, overrides)
    budget = cfg.data.max_tokens if stage == "gpt" else cfg.data.max_frames
    steps = len(epoch_batches(stage, cfg, Path(data), budget, cfg.data.max_clips)[0])
    cfg = replace(cfg, train=replace(cfg.train, max_steps=steps))
    summary = train_stage(stage, Path(data), Path(out), cfg)
    return {"steps": steps, "peak_bytes": summary["memory"]["peak_bytes"]}


def render_planner(results: dict[str, list[dict]]) -> str:
    lines = [
        "| stage | budget | chosen overrides | predicted MiB | worst case MiB | trained MiB "
        "| error |",
        "|---|---|---|---|---|---|---|",
    ]
    for stage, rows in results.items():
        for row in rows:
            plan, trained = row["plan"], row.get("trained_peak_bytes")
            if not plan["fits"] or trained is None:
                lines.append(f"| {stage} | {_budget_name(plan['budget_bytes'])} | nothing fits |")
                continue
            error = 100 * (plan["predicted_peak_bytes"] - trained) / trained
            lines.append(
                f"| {stage} | {_budget_name(plan['budget_bytes'])} | "
                f"{' '.join(o.split('.', 1)[1] for o in plan['overrides'])} | "
                f"{plan['predicted_peak_bytes'] / 2**20:.0f} | "
                f"{plan['worst_case_peak_bytes'] / 2**20:.0f} | {trained / 2**20:.0f} | "
                f"{error:+.1f} % |"
            )
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------
def device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"{platform.machine()} CPU"


PARTS = ("optimizer", "steps", "pro", "planner", "v4", "v5")
# v4, v5: asked for by name (minutes each)
DEFAULT_PARTS = ("optimizer", "steps", "pro", "planner")


def measure_optimizer(args: argparse.Namespace) -> dict:
    """The optimizer step alone: fused AdamW against bitsandbytes' 8-bit one (goal ≤ 1.5×);
    torchao's, which compiles for minutes on a GPU, is `python -m bench.optimizer_step`'s."""
    return {"optimizer_step": optimizer_step.measure(args.size, args.device, OPTIMIZER_CASES)}


def measure_steps(args: argparse.Namespace, started: float, pro: bool = False) -> dict:
    """Part `steps` (args.stages) or part `pro` (the SoVITS versions of --pro-versions, on
    the SoVITS grid)."""
    stages = [f"sovits-{v}" for v in args.pro_versions] if pro else args.stages
    results = {}
    for stage in stages:
        grid = args.grid_gpt if stage == "gpt" else args.grid_sovits
        found = {}
        for case in step_cases(stage, args.device, not args.skip_compile, args.compile_sovits):
            found[case] = run_case(
                "bench.gpu", "grid_case", stage, case, args.size, args.device, grid
            )
            print(stage, case, found[case], f"{time.perf_counter() - started:.0f} s", flush=True)
        results[f"steps_{stage}"] = found
    return results


def measure_cfm(args: argparse.Namespace, started: float, part: str) -> dict:
    """Part `v4` or `v5` (v5dev): bench/cfm_memory.py's cases (the official LoRA recipe
    and full fine-tune settings against LeanVoice's, one 10 s clip), each in a process of
    its own."""
    from bench import cfm_memory

    size = "official" if args.size == "v2" else args.size
    version = {"v4": "v4", "v5": "v5dev"}[part]
    found = {}
    for name in cfm_memory.cases(version):
        found[name] = run_case(
            "bench.cfm_memory", "measure_case", name, size, args.device, 10.0, version
        )
        print(part, name, found[name], f"{time.perf_counter() - started:.0f} s", flush=True)
    return {part: found}


def measure_planner(args: argparse.Namespace, started: float) -> dict:
    planned: dict[str, list[dict]] = {}
    budgets = [int(b * 2**20) for b in args.planner_budgets_mib]
    with tempfile.TemporaryDirectory(prefix="leanvoice-bench-gpu-") as tmp:
        data = str(random_feature_dataset(Path(tmp) / "data", args.size))
        for stage in args.stages:
            plans = run_case("bench.gpu", "plan_case", stage, args.size, args.device, data, budgets)
            planned[stage] = []
            for index, plan in enumerate(plans):
                row = {"plan": plan}
                if plan["fits"]:
                    out = str(Path(tmp) / f"run-{stage}-{index}")
                    trained = run_case(
                        "bench.gpu",
                        "train_case",
                        *(stage, args.size, args.device, data, plan["overrides"], out),
                    )
                    row["trained_peak_bytes"] = trained["peak_bytes"]
                    row["trained_steps"] = trained["steps"]
                planned[stage].append(row)
                print(stage, "planner", row, f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"planner": planned}


def render(results: dict) -> str:
    """The doc section from the (merged) results of every part run so far."""
    budgets = [int(b * 2**20) for b in results["budgets_mib"]]
    minutes = ", ".join(f"{part} {sec / 60:.1f}" for part, sec in results["seconds"].items())
    sections = [
        f"### {results['device']}: `leanvoice bench gpu`, {results['date']}\n\n"
        f"torch {results['torch']}, size {results['size']}; minutes per part: {minutes}. "
        "Grid clips are identical 10 s clips; each case ran in a process of its own."
    ]
    if "optimizer_step" in results:
        sections.append(
            optimizer_step.render(
                results["optimizer_step"], results["size"], results["device_argument"]
            )
        )
    for stage in ("gpt", "sovits", *(f"sovits-{v}" for v in PRO_VERSIONS)):
        if f"steps_{stage}" not in results:
            continue
        model, version = split_stage(stage)
        title = "GPT" if model == "gpt" else "SoVITS generator"
        if version != "v2":
            title += f" {version} (random speaker embedding in the batch)"
        unit = "tokens" if stage == "gpt" else "frames"
        sections.append(
            f"**{title} {results['size']}**: peak MiB (× official) / step ms (× official) at "
            f"equal batch, then useful {unit}/s at equal memory.\n\n"
            + render_steps(stage, results[f"steps_{stage}"], budgets)
        )
    for part, version in (("v4", "v4"), ("v5", "v5dev")):
        if part not in results:
            continue
        from bench import cfm_memory

        size = "official" if results["size"] == "v2" else results["size"]
        on_cuda = results["device_argument"].startswith("cuda")
        precision = "the official cases fp16 + GradScaler, ours auto" if on_cuda else "fp32"
        where = f"{results['device']}, {precision}"
        sections.append(cfm_memory.render(results[part], size, 10.0, where, version))
    if "planner" in results:
        sections.append(
            "**Planner** (`small` preset, memory.optimizer=auto, `--data`: the demo corpus × "
            f"{COPIES} with random features) against one epoch trained with its overrides:"
            "\n\n" + render_planner(results["planner"])
        )
    return "\n\n".join(sections)


def main(args: argparse.Namespace) -> None:
    """Runs the parts asked for and merges them into the device's results file, so that a
    session can run the parts in separate calls."""
    name = device_name(args.device)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    results = read_results(f"gpu-{slug}") or {}
    if results.get("size") != args.size:
        results = {}  # another model size: start afresh
    results.update(
        device=name,
        size=args.size,
        date=str(datetime.date.today()),
        torch=torch.__version__,
        budgets_mib=args.budgets_mib,
        device_argument=args.device,
    )
    results.setdefault("seconds", {})
    for part in args.parts:
        started = time.perf_counter()
        if part == "optimizer":
            results.update(measure_optimizer(args))
        elif part in ("steps", "pro"):
            results.update(measure_steps(args, started, pro=part == "pro"))
        elif part in ("v4", "v5"):
            results.update(measure_cfm(args, started, part))
        else:
            results.update(measure_planner(args, started))
        results["seconds"][part] = time.perf_counter() - started
        print(f"{part}: {results['seconds'][part]:.0f} s", flush=True)
    table = render(results)
    print(table)
    write_section(f"gpu-{slug}", table)
    write_results(f"gpu-{slug}", results)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="leanvoice bench gpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu, to try it)")
    parser.add_argument("--size", default="v2", choices=("v2", "tiny"))
    parser.add_argument("--grid-gpt", type=_numbers, default=list(GRIDS["gpt"]))
    parser.add_argument("--grid-sovits", type=_numbers, default=list(GRIDS["sovits"]))
    parser.add_argument(
        "--budgets-mib", type=_numbers, default=[g * 1024 for g in EQUAL_MEMORY_GIB]
    )
    parser.add_argument(
        "--planner-budgets-mib", type=_numbers, default=[g * 1024 for g in PLANNER_GIB]
    )
    parser.add_argument("--stages", type=lambda t: tuple(t.split(",")), default=("gpt", "sovits"))
    parser.add_argument(
        "--pro-versions",
        type=lambda t: tuple(t.split(",")),
        default=PRO_VERSIONS,
        help="SoVITS versions measured by part pro (default v2Pro,v2ProPlus)",
    )
    parser.add_argument("--skip-compile", action="store_true", help="leave out compiled cases")
    parser.add_argument(
        "--compile-sovits", action="store_true", help="add SoVITS compiled (minutes to compile)"
    )
    parser.add_argument(
        "--parts",
        type=lambda t: tuple(t.split(",")),
        default=DEFAULT_PARTS,
        help="optimizer, steps, pro, planner (the default), and v4 (the flow-matching "
        "SoVITS, asked for by name); each run merges into the results",
    )
    args = parser.parse_args(argv)
    if not set(args.parts) <= set(PARTS):
        parser.error(f"--parts {','.join(args.parts)}: use {','.join(PARTS)}")
    if not set(args.stages) <= {"gpt", "sovits"}:
        parser.error(f"--stages {','.join(args.stages)}: use gpt and/or sovits")
    if not set(args.pro_versions) <= set(PRO_VERSIONS):
        parser.error(f"--pro-versions {','.join(args.pro_versions)}: use {','.join(PRO_VERSIONS)}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    args.grid_gpt = [int(n) for n in args.grid_gpt]
    args.grid_sovits = [int(n) for n in args.grid_sovits]
    return args


if __name__ == "__main__":
    main(parse_args())
