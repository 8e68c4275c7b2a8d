"""Useful tokens (frames) per second at an equal memory budget: the official recipe's
settings vs LeanVoice, each given the largest batch that fits the same budget.

    python -m bench.throughput                      # tiny models, demo corpus, CPU
    python -m bench.throughput --size v2 --device cuda --data PREPARED [--gpt-mib 6144]

Official settings: fixed batches of N clips (sorted buckets), no checkpointing, AdamW,
fp32 on CPU, GPT gradients accumulated over 4 batches; N is the largest whose worst batch
(N copies of the longest clip) fits. LeanVoice: checkpointing (+ the preset's 8-bit
AdamW), batches packed to the largest budget that fits. "Fits" is measured: a search over
real training steps on the worst-case clip, started at the planner's prediction. Every
case trains the same number of optimizer steps on the same clips; tokens/s counts real
(non-pad) phonemes + codes (GPT) or spectrogram frames (SoVITS) per CPU-second of the
training process, on one thread (the wall-clock rate is kept in the results). Each case
runs in a process of its own (bench/isolate.py), three times in interleaved rounds; a
step's cost is its fastest round, so a busy host does not move the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from bench.doc import read_results, write_results, write_section
from bench.isolate import run_case
from leanvoice.config import Config, load_config
from leanvoice.data.features_step import run_feature_step
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list
from leanvoice.plan.planner import (
    Candidate,
    calibrate,
    measured_peak,
    worst_case_clip,
    write_worst_case_clip,
)
from leanvoice.train import train_stage

STEPS = {"gpt": 200, "sovits": 40}  # optimizer steps per round
ROUNDS = 3  # each case's step time is its fastest over the rounds
THREADS = 1  # one thread per case: no idle spinning counted as CPU time, no core contention
OFFICIAL_ACCUM = {"gpt": 4, "sovits": 1}  # the official s1 config accumulates 4 batches
OFFICIAL_OPTIMIZER = {"gpt": "scaled_adam", "sovits": "adamw"}  # s1: ScaledAdam; s2: AdamW
# and their learning rates: ScaledAdam's peak 0.01 under the official warm-up/cosine
OFFICIAL_LR = {"gpt": ["train.lr=0.01", "train.lr_schedule=auto"], "sovits": []}
BASE = ["train.audition_every=0", "train.save_every=0", "train.lr=1e-3"]
BUDGETS_MIB = {"tiny": (24.0, 160.0), "v2": (6144.0, 6144.0)}  # (GPT, SoVITS): a 6 GB card


@dataclass
class Setup:
    """What every case of one run shares; travels as JSON to the case processes."""

    size: str = "tiny"
    device: str = "cpu"
    rounds: int = ROUNDS
    steps: dict[str, int] = field(default_factory=lambda: dict(STEPS))

    @property
    def on_cpu(self) -> bool:
        return self.device == "cpu"


def largest_fitting(
    stage: str, cfg: Config, data: Path, budget: int, device: str = "cpu"
) -> tuple[int, int, int]:
    """(measured largest batch in clips, the planner's prediction, clip cost): the search
    starts at the prediction and steps by measured peaks, so it costs a few steps."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = worst_case_clip(stage, cfg, data)
        write_worst_case_clip(Path(tmp), cfg, clip)
        line = calibrate(
            stage, cfg, Path(tmp), Candidate(cfg.memory.checkpoint, cfg.memory.optimizer), device
        )
        predicted = line.largest_batch(budget)

        def fits(samples: int) -> bool:
            return measured_peak(stage, cfg, Path(tmp), samples, device) <= budget

        samples = max(predicted, 1)
        if fits(samples):
            while fits(samples + 1):
                samples += 1
        else:
            while samples > 1 and not fits(samples - 1):
                samples -= 1
            samples -= 1
    cost = clip["phonemes"] + clip["codes"] if stage == "gpt" else clip["frames"]
    return samples, predicted, cost


def _cases(stage: str, setup: Setup) -> dict[str, Config]:
    """The official recipe's precision is fp16-mixed on CUDA (fp32 on CPU, where fp16
    autocast is not offered); LeanVoice's cases keep their preset's (auto: bf16 where the
    GPU has it)."""
    common = [
        *BASE,
        f"model.size={setup.size}",
        f"train.device={setup.device}",
        f"train.max_steps={setup.steps[stage]}",
    ]
    official = "fp32" if setup.on_cpu else "fp16"
    ours = ["memory.precision=fp32"] if setup.on_cpu else []
    return {
        "official settings": load_config(
            overrides=[
                *common,
                "memory.checkpoint=none",
                f"memory.optimizer={OFFICIAL_OPTIMIZER[stage]}",
                f"train.grad_accum={OFFICIAL_ACCUM[stage]}",
                *OFFICIAL_LR[stage],
                f"memory.precision={official}",
            ]
        ),
        "LeanVoice small preset": load_config("small", overrides=[*common, *ours]),
        "LeanVoice checkpoint all, AdamW": load_config(
            overrides=[*common, *ours, "memory.checkpoint=all", "memory.optimizer=adamw"]
        ),
    }


def _pin(setup: Setup) -> None:
    if setup.on_cpu:
        torch.set_num_threads(THREADS)


def fit_case(stage: str, name: str, data: str, budget: int, setup: dict) -> dict:
    """The case's largest fitting batch (its own process: a search over real steps)."""
    one = Setup(**setup)
    _pin(one)
    samples, predicted, cost = largest_fitting(
        stage, _cases(stage, one)[name], Path(data), budget, one.device
    )
    if samples < 1:
        raise SystemExit(f"{stage}: not one clip of the case {name!r} fits the budget")
    return {"fitting_clips": samples, "predicted_clips": predicted, "clip_cost": cost}


def time_case(stage: str, name: str, data: str, fit: dict, out: str, setup: dict) -> dict:
    """One timed run of a case at its fitting batch: per-step real tokens and seconds from
    `metrics.jsonl` (step 1 runs under the memory probe and is left out). CPU: the
    process's CPU seconds; CUDA: wall seconds (the step ends on a synchronising .item())."""
    one = Setup(**setup)
    _pin(one)
    cfg, samples, cost = _cases(stage, one)[name], fit["fitting_clips"], fit["clip_cost"]
    if name == "official settings":
        cfg = replace(cfg, train=replace(cfg.train, fixed_batch=samples))
        batch = f"{samples} clips × {cfg.train.grad_accum}"
    else:
        limits = (
            {"max_tokens": samples * cost}
            if stage == "gpt"
            else {"max_frames": samples * cost, "max_clips": samples}
        )  # as the planner sets them
        cfg = replace(cfg, data=replace(cfg.data, **limits))
        batch = f"{samples * cost} {'tokens' if stage == 'gpt' else 'frames'}"
    summary = train_stage(stage, Path(data), Path(out), cfg)
    lines = (Path(out) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    steps = [json.loads(line) for line in lines][1:]
    return {
        "batch": batch,
        "steps": [[s["real_tokens"], s["cpu_seconds" if one.on_cpu else "seconds"]] for s in steps],
        "wall_per_second": summary["tokens_per_second"],
        "padding_efficiency": summary["padding_efficiency"],
        "peak_bytes": summary["memory"]["peak_bytes"],
        "final_loss": summary["final_loss"],
    }


def combine(fit: dict, rounds: list[dict]) -> dict:
    """One case's rate from its rounds: each step's fastest CPU time over the rounds.
    The rounds train the same batches, and a busy host only ever adds time, so the
    per-step minimum is what the step costs; a round's own rate shows the noise removed."""
    real = [step[0] for step in rounds[0]["steps"]]
    for other in rounds[1:]:
        if [step[0] for step in other["steps"]] != real:
            raise RuntimeError("the rounds of one case trained different batches")
    fastest = [min(r["steps"][i][1] for r in rounds) for i in range(len(real))]
    per_round = [sum(real) / sum(step[1] for step in r["steps"]) for r in rounds]
    last = rounds[-1]
    return {
        **fit,
        "batch": last["batch"],
        "per_second": sum(real) / sum(fastest),
        "per_second_rounds": per_round,
        "wall_per_second": statistics.median(r["wall_per_second"] for r in rounds),
        "padding_efficiency": last["padding_efficiency"],
        "peak_bytes": last["peak_bytes"],
        "final_loss": last["final_loss"],
    }


def run_stage(stage: str, data: Path, budget: int, tmp: Path, setup: Setup) -> dict[str, dict]:
    """Fit every case, then time them in interleaved rounds (the order rotates each round),
    so that a slow spell of the host falls on one round of every case, not on one case."""
    names, shared = list(_cases(stage, setup)), asdict(setup)
    fits = {
        n: run_case("bench.throughput", "fit_case", stage, n, str(data), budget, shared)
        for n in names
    }
    rounds: dict[str, list[dict]] = {n: [] for n in names}
    for round_ in range(setup.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            out = tmp / f"{stage}_{names.index(name)}_{round_}"
            rounds[name].append(
                run_case(
                    "bench.throughput",
                    "time_case",
                    stage,
                    name,
                    str(data),
                    fits[name],
                    str(out),
                    shared,
                )
            )
    results = {n: combine(fits[n], rounds[n]) for n in names}
    for name, r in results.items():
        print(stage, name, r, flush=True)
    return results


def _machine(setup: Setup) -> str:
    if setup.on_cpu:
        return f"{platform.machine()} CPU ({THREADS} thread)"
    return torch.cuda.get_device_name(torch.device(setup.device))


def render(
    stage: str, results: dict[str, dict], budget_mib: float, setup: Setup, data_name: str
) -> str:
    base = results["official settings"]["per_second"]
    unit = "tokens" if stage == "gpt" else "frames"
    clock = "CPU-s" if setup.on_cpu else "s"
    lines = [
        f"{'GPT' if stage == 'gpt' else 'SoVITS'} {setup.size}, {data_name}, budget "
        f"{budget_mib:g} MiB, {setup.steps[stage]} optimizer steps per round, {setup.rounds} "
        f"interleaved rounds; {datetime.date.today()}, {_machine(setup)}, torch "
        f"{torch.__version__}, `python -m bench.throughput`.",
        "",
        f"| case | batch | fitting clips (planner) | useful {unit}/{clock} | × | each round "
        "| padding efficiency | peak MiB | final loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        each = ", ".join(f"{x:.0f}" for x in r["per_second_rounds"])
        lines.append(
            f"| {name} | {r['batch']} | {r['fitting_clips']} ({r['predicted_clips']}) | "
            f"{r['per_second']:.0f} | {r['per_second'] / base:.2f} | {each} | "
            f"{r['padding_efficiency']:.3f} | {r['peak_bytes'] / 2**20:.1f} | "
            f"{r['final_loss']:.3f} |"
        )
    return "\n".join(lines)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", choices=("tiny", "v2"), default="tiny")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--data",
        type=Path,
        help="a prepared dataset with features of --size (default: the demo corpus, tiny features)",
    )
    parser.add_argument("--gpt-mib", type=float, help="GPT memory budget (MiB)")
    parser.add_argument("--sovits-mib", type=float, help="SoVITS memory budget (MiB)")
    parser.add_argument("--gpt-steps", type=int, default=STEPS["gpt"])
    parser.add_argument("--sovits-steps", type=int, default=STEPS["sovits"])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--stages", nargs="+", choices=("gpt", "sovits"), default=["gpt", "sovits"])
    args = parser.parse_args(argv)
    if args.data is None and args.size != "tiny":
        parser.error(
            "--size v2 needs --data: a dataset prepared with real HuBERT/BERT "
            "features (the demo corpus carries tiny ones)"
        )
    if args.data is not None and not (args.data / "manifest.jsonl").is_file():
        parser.error(f"--data {args.data}: no manifest.jsonl (run leanvoice prepare)")
    if args.device != "cpu" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def result_name(argv: list[str]) -> str:
    """`throughput` for the CPU tiny run the goals table reads; other sizes and devices
    get their own results file and doc section, e.g. `throughput-v2-cuda`."""
    return _result_name(_arguments(argv))


def _result_name(args: argparse.Namespace) -> str:
    if (args.size, args.device) == ("tiny", "cpu"):
        return "throughput"
    return f"throughput-{args.size}-{args.device.split(':')[0]}"


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    name = _result_name(args)
    setup = Setup(
        size=args.size,
        device=args.device,
        rounds=args.rounds,
        steps={"gpt": args.gpt_steps, "sovits": args.sovits_steps},
    )
    defaults = dict(zip(("gpt", "sovits"), BUDGETS_MIB[args.size], strict=True))
    budgets = {
        "gpt": args.gpt_mib or defaults["gpt"],
        "sovits": args.sovits_mib or defaults["sovits"],
    }
    everything = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            data = prepare_dataset(demo_corpus_list(), Path(tmp) / "data", load_config()).out
            run_feature_step(data, tiny=True)
            data_name = "demo corpus"
        else:
            data, data_name = args.data, f"dataset {args.data.name}"
        for stage in args.stages:
            mib = budgets[stage]
            results = run_stage(stage, data, int(mib * 2**20), Path(tmp), setup)
            everything[stage] = {"budget_mib": mib, "setup": asdict(setup), "cases": results}
            table = render(stage, results, mib, setup, data_name)
            print(table)
            write_section(name.replace("throughput", f"throughput-{stage}", 1), table)
    earlier = read_results(name) or {}  # a run of one stage keeps the other's figures
    write_results(name, {**earlier, **everything})


if __name__ == "__main__":
    main(sys.argv[1:])
