"""`leanvoice bench quality`: what each memory technique and preset costs the trained
voice, measured on held-out clips side by side with the reference settings.

Every case fine-tunes the shipped tiny bases on the demo corpus (prepared and featured
with the bases, as `leanvoice demo` does) for the same steps, with the same batches for
a given seed, and holds out the same clips (`data.valid_fraction`, a fixed rule: 4 of
each speaker's 20). The reference is the exact training the official recipe's numerics
give: fp32, AdamW, every weight trained, nothing recomputed (the official GPT recipe's
optimizer, ScaledAdam, is compared with AdamW in the optimizer-curves table). Each
case changes that one way: an exact technique (checkpointing, accumulation, the
optimizer step in backward), a lossy one (bf16, fp16 with a GradScaler on CUDA, 8-bit
AdamW states, LoRA at ranks 4/8/16, the freeze group a preset uses), or a preset's
memory section (`auto` precision as a bf16 card runs it; the preset's learning rate and
step count are not taken, so the comparison is of the techniques alone).

Held-out figures (trainer.evaluate, eval mode, fixed seed):
- GPT: cross entropy per semantic token (and EOS), top-3 accuracy of the codes;
- SoVITS: the log-mel L1 of each held-out clip decoded from its posterior
  (`valid_loss`), and of the clip synthesized from its own codes and text with another
  clip of its speaker as the reference; on those syntheses the demo report's measures:
  the voiced share and whether the closest speaker is the right one.

The report gives each case's figures as a ratio to the reference of the same seed (mean
and min–max over seeds), the reference's own seed-to-seed spread as the noise band, the
same ratio at equal wall-clock time on this machine, a plot of the held-out curves, and
each goal's verdict. `--quick` (the test suite's) runs fewer cases, seeds and steps.
On a GPU with real data: `--device cuda --size v2 --data D --set model.gpt_init=…`.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from bench.doc import DOC, results_dir, write_results, write_section

SECTION = "quality"
VALID_FRACTION = 0.2
STAGES = ("gpt", "sovits")
# per stage: rates at which the reference's held-out loss still falls at the last step
# (the demo's GPT rate, 1e-3, overfits the held-out clips within 20 steps here)
LEARNING_RATE = {"gpt": 1e-4, "sovits": 2e-4}
STAGE_EXTRA = {"gpt": ["data.max_tokens=600"], "sovits": ["data.max_clips=4"]}
REFERENCE = "reference: fp32, AdamW, full"
EXACT_NOISE_BAND = 1.0  # exact techniques: within the reference's seed spread
LOSSY_GOAL = 0.01  # bf16/fp16 and 8-bit states: within 1 % of the reference
PRESET_GOAL = 0.02  # a preset losing more than this has its default changed


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # reference | exact | lossy | lora | freeze | preset
    overrides: tuple[str, ...] = ()
    stages: tuple[str, ...] = STAGES
    cuda_only: bool = False  # fp16 autocast: LeanVoice runs it on CUDA only


def preset_memory(name: str) -> tuple[str, ...]:
    """A preset's memory section as overrides (`auto` precision as a bf16 card runs it)."""
    from leanvoice.config import load_config

    memory = load_config(name).memory
    precision = "bf16" if memory.precision == "auto" else memory.precision
    return (
        f"memory.checkpoint={memory.checkpoint}",
        f"memory.precision={precision}",
        f"memory.optimizer={memory.optimizer}",
        f"memory.lora.rank={memory.lora.rank}",
        f"memory.lora.alpha={memory.lora.alpha}",
        f"memory.lora.stages=[{','.join(memory.lora.stages)}]",
        f"memory.freeze=[{','.join(memory.freeze)}]",
        f"memory.half_frozen={str(memory.half_frozen).lower()}",
    )


def all_cases() -> list[Case]:
    lora = [
        Case(f"LoRA r{rank}", "lora", (f"memory.lora.rank={rank}", f"memory.lora.alpha={2 * rank}"))
        for rank in (4, 8, 16)
    ]
    return [
        Case(REFERENCE, "reference"),
        Case("checkpoint all", "exact", ("memory.checkpoint=all",)),
        Case("accumulation 2 × half batches", "exact", ("train.grad_accum=2",)),
        Case("bf16 autocast", "lossy", ("memory.precision=bf16",)),
        Case("fp16 + GradScaler", "lossy", ("memory.precision=fp16",), cuda_only=True),
        Case("8-bit AdamW states", "lossy", ("memory.optimizer=adamw8bit",)),
        Case("AdamW in backward", "exact", ("memory.optimizer=adamw_in_backward",)),
        *lora,
        # what the timbre preset did to SoVITS until 2026-12-06
        Case("freeze sovits", "freeze", ("memory.freeze=[sovits]",), ("sovits",)),
        *(Case(f"preset {p}", "preset", preset_memory(p)) for p in ("small", "timbre", "scratch")),
    ]


QUICK_CASES = ("reference", "bf16-autocast", "lora-r4", "freeze-sovits")  # slugs


@dataclass
class Settings:
    steps: dict[str, int]
    eval_every: dict[str, int]
    seeds: tuple[int, ...]
    device: str = "cpu"
    size: str = "tiny"
    extra: tuple[str, ...] = ()  # --set overrides (real data: the pretrained inits)


FULL = Settings({"gpt": 100, "sovits": 24}, {"gpt": 10, "sovits": 6}, (0, 1, 2))
QUICK = Settings({"gpt": 20, "sovits": 4}, {"gpt": 10, "sovits": 2}, (0, 1))


@dataclass
class RunResult:
    curve: list[dict[str, float]] = field(default_factory=list)  # step, seconds, valid_*
    final: dict[str, float] = field(default_factory=dict)


# -- data -------------------------------------------------------------------------------
def demo_data(work: Path) -> tuple[Path, list[str]]:
    """The demo corpus prepared and featured with the bases (reused when there), and the
    overrides that start from the bases."""
    from leanvoice.config import load_config
    from leanvoice.data.features_step import run_feature_step
    from leanvoice.data.prepare import prepare_dataset
    from leanvoice.demo import demo_bases, demo_corpus_list

    bases = demo_bases()
    prepared = work / "prepared"
    if not (prepared / "features.done").is_file():
        result = prepare_dataset(
            demo_corpus_list(), prepared, load_config(overrides=["model.size=tiny"])
        )
        run_feature_step(
            result.out, hubert=bases / "hubert", bert=bases / "bert", sovits=bases / "sovits.pth"
        )
        (prepared / "features.done").write_text("1")
    inits = [
        f"model.gpt_init={bases / 'gpt.ckpt'}",
        f"model.sovits_init={bases / 'sovits.pth'}",
        f"model.sovits_d_init={bases / 'sovits_d.pth'}",
    ]
    return prepared, inits


# -- one run ----------------------------------------------------------------------------
def run_case(
    stage: str, case: Case, seed: int, data: Path, work: Path, s: Settings, inits: list[str]
) -> RunResult:
    """Fine-tune one stage under `case` and measure the held-out clips along the way."""
    from rich.console import Console

    from leanvoice.config import load_config
    from leanvoice.train import trainer_class

    overrides = [
        f"model.size={s.size}",
        *inits,
        f"train.device={s.device}",
        "memory.precision=fp32",
        "memory.optimizer=adamw",
        f"train.lr={LEARNING_RATE[stage]}",
        f"train.max_steps={s.steps[stage]}",
        f"train.eval_every={s.eval_every[stage]}",
        f"train.seed={seed}",
        "train.audition_every=0",
        "train.save_every=0",
        f"data.valid_fraction={VALID_FRACTION}",
        *STAGE_EXTRA[stage],
        *s.extra,
        *case.overrides,
    ]
    if "train.grad_accum=2" in case.overrides:  # the same clips per step in two halves
        overrides += _halved_limit(stage, load_config(overrides=overrides))
    cfg = load_config(overrides=overrides)
    frozen = stage in cfg.memory.freeze  # nothing of this stage trains: the base as it is
    if frozen:  # (the trainer refuses a stage with nothing to train: measured untrained)
        cfg = replace(cfg, memory=replace(cfg.memory, freeze=[]))
    run = work / "runs" / f"{stage}-{seed}-{_slug(case.name)}"
    shutil.rmtree(run, ignore_errors=True)
    trainer = trainer_class(stage, cfg)(cfg, data, run, resume="none", console=Console(quiet=True))
    trainer.measure_memory = False  # its probe would slow the steps timed here
    result = RunResult()
    if frozen:
        trainer.setup()
        result.curve = [{"step": 0, "seconds": 0.0, **trainer.evaluate()}]
    else:
        trainer.train()
        result.curve = _curve(run / "metrics.jsonl")
    result.final = dict(result.curve[-1])
    if stage == "sovits":
        result.final.update(synthesis_figures(trainer))
    shutil.rmtree(run, ignore_errors=True)
    return result


def _halved_limit(stage: str, cfg) -> list[str]:
    if stage == "gpt":
        return [f"data.max_tokens={cfg.data.max_tokens // 2}"]
    clips = [f"data.max_clips={max(cfg.data.max_clips // 2, 1)}"] if cfg.data.max_clips else []
    return [f"data.max_frames={cfg.data.max_frames // 2}", *clips]


def _curve(metrics: Path) -> list[dict[str, float]]:
    """The held-out figures at each evaluation, with the training seconds spent so far
    (evaluation time not counted)."""
    seconds, curve = 0.0, []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        seconds += row["seconds"]
        held = {k: v for k, v in row.items() if k.startswith("valid_")}
        if held:
            curve.append({"step": row["step"], "seconds": seconds, **held})
    return curve


def synthesis_figures(trainer) -> dict[str, float]:
    """Each held-out clip synthesized from its own codes and text, with the first
    training clip of its speaker as the reference (noise scale 0.5, seed 0): the log-mel
    L1 against the real clip, the voiced share, and whether the closest demo speaker (by
    the report's mel signature of the training clips) is the clip's own."""
    from leanvoice.audio.quality import measure
    from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel
    from leanvoice.memory.half_frozen import full_precision

    model, size, device = trainer.generator, trainer.size, trainer.ctx.device
    rate = size.sample_rate
    valid = trainer.valid
    first_of = {}
    for clip in trainer.clips.clips:
        first_of.setdefault(clip.speaker, clip)
    signatures = speaker_signatures(
        trainer.clips.root, tuple((c.speaker, c.wav) for c in trainer.clips.clips), rate
    )
    bank = trainer.filterbank.cpu()  # the run's own log-mel

    def log_mel(samples: np.ndarray) -> torch.Tensor:
        wave = torch.from_numpy(samples)[None]
        return linear_to_log_mel(
            linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length), bank
        )[0]

    errors, voiced, right = [], [], []
    was_training = model.training
    model.eval()
    with torch.no_grad(), full_precision(model):  # fp32 decoding of half frozen weights
        for clip in valid.clips:
            reference = _samples(trainer.clips.root / first_of[clip.speaker].wav)
            ref_spec = linear_spectrogram(
                torch.from_numpy(reference)[None], size.n_fft, size.hop_length, size.win_length
            ).to(device)
            codes = np.load(valid.root / str(clip.semantic_path)).astype(np.int64).reshape(1, -1)
            phonemes = torch.tensor([clip.phoneme_ids], device=device)
            wave = model.decode(
                torch.from_numpy(codes).to(device),
                phonemes,
                ref_spec,
                noise_scale=0.5,
                generator=torch.Generator(device=device).manual_seed(0),
            )
            made = wave.reshape(-1).float().cpu().numpy()
            real = _samples(valid.root / clip.wav)
            fake_mel, real_mel = log_mel(made), log_mel(real)
            frames = min(fake_mel.shape[-1], real_mel.shape[-1])
            errors.append(float((fake_mel[:, :frames] - real_mel[:, :frames]).abs().mean()))
            quality = measure(made, rate, speakers=signatures)
            voiced.append(quality.voiced_fraction)
            right.append(float(quality.closest_speaker() == clip.speaker))
    model.train(was_training)
    return {
        "synth_mel_l1": float(np.mean(errors)),
        "synth_voiced": float(np.mean(voiced)),
        "synth_right_speaker": float(np.mean(right)),
    }


@functools.cache
def speaker_signatures(
    root: Path, clips: tuple[tuple[str, str], ...], rate: int
) -> dict[str, np.ndarray]:
    """Each speaker's mel signature (the demo report's) over its training clips, given
    as (speaker, wav); the same for every case and seed of a stage, so computed once."""
    from leanvoice.audio.quality import mel_signature

    speakers = dict.fromkeys(speaker for speaker, _ in clips)
    return {
        speaker: mel_signature(
            np.concatenate([_samples(root / wav) for who, wav in clips if who == speaker]), rate
        )
        for speaker in speakers
    }


def _samples(path: Path) -> np.ndarray:
    from leanvoice.audio.io import load_audio

    return np.asarray(load_audio(path).samples, dtype=np.float32)


def _slug(name: str) -> str:
    """A case's short name: its words up to a colon or bracket, e.g. `lora-r4`."""
    words = name.split(":")[0].split("(")[0].lower()
    return "-".join("".join(c if c.isalnum() else " " for c in words).split())


# -- the report -------------------------------------------------------------------------
KEYS = {  # stage → (the main figure, lower is better?), then the others shown
    "gpt": [("valid_loss", True), ("valid_top3", False)],
    "sovits": [
        ("valid_loss", True),
        ("synth_mel_l1", True),
        ("synth_voiced", False),
        ("synth_right_speaker", False),
    ],
}
LABELS = {
    "valid_loss": "held-out loss",
    "valid_top3": "top-3 acc.",
    "synth_mel_l1": "synthesis mel L1",
    "synth_voiced": "voiced share",
    "synth_right_speaker": "right speaker",
}


def at_time(curve: list[dict[str, float]], seconds: float, key: str = "valid_loss") -> float:
    """The figure at `seconds` of training, linear between evaluations."""
    times = [0.0] + [p["seconds"] for p in curve]
    values = [curve[0][key]] + [p[key] for p in curve]
    return float(np.interp(seconds, times, values))


def summarise(results: dict) -> dict:
    """Per stage and case: ratios to the reference of the same seed (mean, min, max),
    at the end and at equal wall-clock time; the reference's seed spread; verdicts."""
    summary = {}
    for stage, cases in results["runs"].items():
        cases = _in_case_order(cases)
        reference = cases[REFERENCE]
        seeds = sorted(reference, key=int)
        ref_final = [reference[s]["final"]["valid_loss"] for s in seeds]
        noise = (max(ref_final) - min(ref_final)) / float(np.mean(ref_final))
        rows = {}
        for name, runs in cases.items():
            row = {"kind": runs[seeds[0]]["kind"]}
            for key, _ in KEYS[stage]:
                ratios = [runs[s]["final"][key] / reference[s]["final"][key] for s in seeds]
                values = [runs[s]["final"][key] for s in seeds]
                row[key] = {"mean": float(np.mean(values)), "ratio": float(np.mean(ratios))}
                row[key] |= {"ratio_min": min(ratios), "ratio_max": max(ratios)}
            timed = []
            for s in seeds:
                mine, ref = runs[s]["curve"], reference[s]["curve"]
                budget = min(mine[-1]["seconds"], ref[-1]["seconds"])
                if budget > 0:
                    timed.append(at_time(mine, budget) / at_time(ref, budget))
            row["equal_time_ratio"] = float(np.mean(timed)) if timed else None
            row["seconds"] = float(np.mean([runs[s]["curve"][-1]["seconds"] for s in seeds]))
            row["verdict"] = verdict(row["kind"], row["valid_loss"]["ratio"], noise)
            rows[name] = row
        summary[stage] = {"noise": noise, "seeds": len(seeds), "cases": rows}
    return summary


def _in_case_order(cases: dict[str, dict]) -> dict[str, dict]:
    """The cases as `all_cases` lists them (a saved JSON has them sorted by name)."""
    order = {case.name: index for index, case in enumerate(all_cases())}
    return dict(sorted(cases.items(), key=lambda item: order.get(item[0], len(order))))


def verdict(kind: str, ratio: float, noise: float) -> str:
    """The goal a case is held to, and whether it met it (lower loss = better)."""
    loss = ratio - 1
    if kind == "reference":
        return "reference"
    if kind == "exact":
        met = abs(loss) <= EXACT_NOISE_BAND * noise
        return f"{'met' if met else 'missed'}: within the seed spread ({100 * noise:.1f} %)"
    if kind == "lossy":
        met = loss <= LOSSY_GOAL
        return f"{'met' if met else 'missed'}: within {100 * LOSSY_GOAL:.0f} %"
    if kind == "preset":
        if loss <= PRESET_GOAL:
            return f"kept: loses ≤ {100 * PRESET_GOAL:.0f} %"
        return f"loses {100 * loss:.1f} % (> {100 * PRESET_GOAL:.0f} %)"
    return f"costs {100 * loss:+.1f} %"  # LoRA and frozen groups: reported with their cost


def render(results: dict, summary: dict, plot: Path | None) -> str:
    s = results["settings"]
    lines = [
        f"{results['date']}, {results['device_name']}, torch {results['torch']}, "
        f"`leanvoice bench quality{' --quick' if results['quick'] else ''}` "
        f"({results['wall_minutes']:.1f} min). Tiny bases fine-tuned on the demo corpus, "
        f"{VALID_FRACTION:.0%} of each speaker's clips held out; GPT {s['steps']['gpt']} steps, "
        f"SoVITS {s['steps']['sovits']} steps, seeds {', '.join(map(str, s['seeds']))} "
        "(the same batches for every case of a seed). Ratios are to the reference "
        "of the same seed, mean [min–max] over seeds; lower loss and L1 are better, "
        "higher accuracy, voiced share and right speaker are better.",
    ]
    for stage in STAGES:
        if stage not in summary:
            continue
        part = summary[stage]
        keys = KEYS[stage]
        lines += [
            "",
            f"**{stage.upper()}** — the reference's seed-to-seed spread of the held-out "
            f"loss: {100 * part['noise']:.1f} %.",
            "",
            "| case | "
            + " | ".join(LABELS[k] for k, _ in keys)
            + " | at equal time | train s | goal |",
            "|---|" + "---:|" * (len(keys) + 2) + "---|",
        ]
        for name, row in part["cases"].items():
            cells = []
            for key, _ in keys:
                fig = row[key]
                cells.append(
                    f"{fig['mean']:.3f} ({fig['ratio']:.3f}× "
                    f"[{fig['ratio_min']:.3f}–{fig['ratio_max']:.3f}])"
                    if name != REFERENCE
                    else f"{fig['mean']:.3f}"
                )
            equal = row["equal_time_ratio"]
            lines.append(
                f"| {name} | "
                + " | ".join(cells)
                + f" | {'–' if equal is None or name == REFERENCE else f'{equal:.3f}×'}"
                + f" | {row['seconds']:.1f} | {row['verdict']} |"
            )
    if plot is not None:
        where = plot.relative_to(DOC.parent) if plot.is_relative_to(DOC.parent) else plot
        lines += ["", f"![held-out curves]({where.as_posix()})"]
    return "\n".join(lines)


def plot_curves(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [stage for stage in STAGES if stage in results["runs"]]
    figure, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 4.2), squeeze=False)
    for axis, stage in zip(axes[0], stages, strict=True):
        for name, runs in _in_case_order(results["runs"][stage]).items():
            curves = [run["curve"] for run in runs.values()]
            if len(curves[0]) < 2:
                continue  # nothing trained (a frozen stage): no curve
            steps = [p["step"] for p in curves[0]]
            mean = np.mean([[p["valid_loss"] for p in c] for c in curves], axis=0)
            style = "-" if name == REFERENCE else "--" if "preset" in name else ":"
            width = 2.4 if name == REFERENCE else 1.2
            axis.plot(steps, mean, style, linewidth=width, label=name)
        axis.set_title(f"{stage.upper()}: held-out loss (mean over seeds)")
        axis.set_xlabel("step")
        axis.set_ylabel("cross entropy per token" if stage == "gpt" else "log-mel L1")
        axis.legend(fontsize=6)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# -- the command ------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases, seeds and steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="tiny", help="tiny (the demo bases) or v2")
    parser.add_argument("--data", type=Path, help="prepared data (default: the demo corpus)")
    parser.add_argument("--stages", default="gpt,sovits")
    parser.add_argument("--cases", default="", help="case slugs, e.g. reference,lora-r4")
    parser.add_argument("--work", type=Path, help="where the demo corpus is prepared and kept")
    parser.add_argument("--set", action="append", default=[], help="an override for every run")
    parser.add_argument(
        "--from-results", type=Path, help="report a saved results JSON again (no training)"
    )
    args = parser.parse_args(argv)
    if args.from_results is not None:
        results = json.loads(args.from_results.read_text(encoding="utf-8"))
        kinds = {case.name: case.kind for case in all_cases()}  # goals as they stand now
        for cases in results["runs"].values():
            for name, runs in cases.items():
                for run in runs.values():
                    run["kind"] = kinds.get(name, run["kind"])
    else:
        results = measure(args, parser)
    return report(results, args.quick, args.device.split(":")[0], args.size)


def measure(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """Every case of every stage and seed, trained and measured in this process."""
    started = time.perf_counter()
    settings = replace(
        QUICK if args.quick else FULL, device=args.device, size=args.size, extra=tuple(args.set)
    )
    wanted = set(args.cases.split(",")) - {""} or (set(QUICK_CASES) if args.quick else None)
    on_cuda = args.device.startswith("cuda")
    cases = [
        c
        for c in all_cases()
        if (wanted is None or _slug(c.name) in wanted) and (on_cuda or not c.cuda_only)
    ]
    if REFERENCE not in {c.name for c in cases}:
        parser.error("--cases must include the reference (slug: reference)")
    work = args.work or Path(tempfile.mkdtemp(prefix="leanvoice-quality-"))
    if args.data is not None:
        data, inits = args.data, []
    else:
        if args.size != "tiny":
            parser.error("--size v2 needs --data (the demo bases are tiny)")
        data, inits = demo_data(work)
    runs: dict[str, dict[str, dict]] = {}
    for stage in args.stages.split(","):
        # untimed: the first run of a process pays for every batch shape's first kernels
        run_case(stage, cases[0], settings.seeds[0], data, work, settings, inits)
        for case in cases:
            if stage not in case.stages:
                continue
            for seed in settings.seeds:
                result = run_case(stage, case, seed, data, work, settings, inits)
                runs.setdefault(stage, {}).setdefault(case.name, {})[str(seed)] = {
                    "kind": case.kind,
                    "curve": result.curve,
                    "final": result.final,
                }
                loss = result.final["valid_loss"]
                print(f"{stage} · {case.name} · seed {seed}: held-out loss {loss:.4f}", flush=True)
    device_name = (
        torch.cuda.get_device_name(torch.device(args.device))
        if on_cuda
        else f"{platform.machine()} CPU ({torch.get_num_threads()} threads)"
    )
    return {
        "date": str(datetime.date.today()),
        "device_name": device_name,
        "torch": torch.__version__,
        "quick": args.quick,
        "settings": {"steps": settings.steps, "seeds": list(settings.seeds), "size": args.size},
        "wall_minutes": (time.perf_counter() - started) / 60,  # the whole command
        "runs": runs,
    }


def report(results: dict, quick: bool, device: str, size: str) -> dict:
    """The summary, the results JSON, the plot and the table (the doc's section unless
    `quick`)."""
    results["summary"] = summary = summarise(results)
    name = "quality-quick" if quick else f"quality-{device}-{size}"
    plot = None
    if write_results(name, results) is not None:
        plot = plot_curves(results, results_dir() / f"{name}.png")
    table = render(results, summary, plot)
    print(table)
    if not quick:
        write_section(f"{SECTION}-{device}-{size}", table)
    return results


if __name__ == "__main__":
    main()
