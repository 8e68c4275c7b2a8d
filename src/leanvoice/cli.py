"""The `leanvoice` command: thin, calls the Python API; user errors print in one line."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from leanvoice import __version__
from leanvoice.errors import LeanVoiceError


class _Switches:
    """Help that shows `--help` as the plain switch it is (Typer labels it `<bool>`, as it
    would our own flags without their `metavar=""`)."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Group(_Switches, TyperGroup):
    pass


class _Command(_Switches, TyperCommand):
    pass


app = typer.Typer(
    name="leanvoice",
    cls=_Group,
    help="Train GPT-SoVITS voice models on the GPU you own.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Lines are never wrapped by us: paths and command lines stay whole and copyable in logs
# and narrow terminals (a terminal wraps long lines itself; tables still fit the width).
console = Console(soft_wrap=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"leanvoice {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[
        bool,
        typer.Option("--debug", metavar="", help="Show tracebacks and libraries' warnings."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_version, is_eager=True, help="Print version."
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    if not debug:
        quiet_libraries()


# What libraries log at import or first use and a user cannot act on: torchao's optional
# CUDA kernels that do not load on a CPU machine, torch's deprecation notes, Python
# warnings from the stack. Errors still show; --debug shows everything.
QUIET_LOGGERS = ("torchao", "torch.utils._pytree", "torch._dynamo", "torch._inductor")


def log_progress(what: str, done: int, total: int, unit: str) -> None:
    """Output that is not a terminal (a log file, a scheduler) gets no live bar: a line
    every ~5 % instead."""
    if console.is_terminal or not total or done == 0:
        return
    if done == total or done % max(total // 20, 1) == 0:
        console.print(f"{what} {done}/{total} {unit}", soft_wrap=True)


def quiet_libraries() -> None:
    import logging
    import warnings

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


@app.command(cls=_Command)
def prepare(
    src: Annotated[Path, typer.Argument(help="A .list file, metadata.csv, or a folder.")],
    out: Annotated[Path, typer.Argument(help="Folder for the prepared dataset.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides such as data.max_sec=12.")
    ] = None,
    max_sec: Annotated[float | None, typer.Option(help="Longest clip in seconds.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes for audio work.")] = None,
    language: Annotated[
        str,
        typer.Option(help="Language of metadata.csv/folder sources: auto, zh, ja, en, ko or yue."),
    ] = "auto",
    hubert: Annotated[Path | None, typer.Option(help="Local chinese-hubert-base folder.")] = None,
    bert: Annotated[
        Path | None, typer.Option(help="Local chinese-roberta-wwm-ext-large folder.")
    ] = None,
    sovits: Annotated[
        Path | None, typer.Option(help="SoVITS .pth whose quantizer defines the codes.")
    ] = None,
    tiny_features: Annotated[
        bool,
        typer.Option(
            "--tiny-features",
            metavar="",
            help="Use built-in tiny random feature models (tests, demo).",
        ),
    ] = False,
    sv: Annotated[
        str | None,
        typer.Option(
            metavar="FILE|tiny",
            help="Speaker model for v2Pro/v2ProPlus: the official "
            "pretrained_eres2netv2w24s4ep4.ckpt (20480-d embeddings), or 'tiny' with "
            "--tiny-features (64-d); writes sv/ID.npy. Leave out for v2.",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="Device for feature extraction.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Clips per BERT forward pass.")] = 8,
) -> None:
    """Ingest a dataset: 32 kHz mono clips of at most max_sec, phonemes, manifest, report."""
    from leanvoice.config import load_config
    from leanvoice.data.official_import import import_official_experiment, is_official_experiment
    from leanvoice.data.prepare import prepare_dataset

    model_files = {"--sovits": sovits, "--hubert": hubert, "--bert": bert}
    if sv is not None and str(sv) != "tiny":
        model_files["--sv"] = Path(sv)
    refuse_overwriting_inputs(out, {"SRC": src, **model_files}, "OUT")
    if is_official_experiment(src):
        report = import_official_experiment(src, out)
        print_report(report)
        console.print(f"imported the official experiment folder into {out}")
        if report["clips"] == 0:
            print("error: no usable clips; see the skipped items above", file=sys.stderr)
            raise typer.Exit(1)
        return

    extra = list(overrides or [])
    if max_sec is not None:
        extra.append(f"data.max_sec={max_sec}")
    if workers is not None:
        extra.append(f"prepare.workers={workers}")
    cfg = load_config(overrides=extra)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("preparing", total=None)
        result = prepare_dataset(
            src,
            out,
            cfg,
            language=language,
            on_item=lambda done, total: (
                progress.update(task, completed=done, total=total),
                log_progress("prepared", done, total, "items"),
            ),
        )
    print_report(result.report)
    if result.clips and (tiny_features or hubert or bert or sovits or sv):
        from leanvoice.data.features_step import run_feature_step

        features = run_feature_step(
            result.out,
            tiny=tiny_features,
            hubert=hubert,
            bert=bert,
            sovits=sovits,
            sv=sv,
            device=device,
            batch_size=batch_size,
        )
        console.print(
            f"features: {features.clips} clips ({features.computed} computed now) → "
            f"ssl/, bert/, semantic/, {'sv/, ' if sv else ''}semantic.tsv"
        )
    elif result.clips:
        console.print(
            "features: not extracted (give --hubert, --bert and --sovits, "
            "or --tiny-features for a test run)"
        )
    console.print(f"manifest: {result.out / 'manifest.jsonl'}")
    console.print(f"report: {result.out / 'report.json'}")
    if result.clips == 0:
        print("error: no usable clips; see the skipped items above", file=sys.stderr)
        raise typer.Exit(1)


@app.command(cls=_Command)
def train(
    stage: Annotated[str, typer.Argument(help="gpt (stage 1) or sovits (stage 2).")],
    data: Annotated[Path, typer.Option(help="A prepared dataset folder (leanvoice prepare).")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, TensorBoard, summary.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides such as train.max_steps=100.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="timbre, small or scratch (see docs/guide.md).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="A YAML config file.")] = None,
    resume: Annotated[
        str, typer.Option(help="auto (newest checkpoint in --out), none, or a path.")
    ] = "auto",
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            metavar="",
            help="With --resume none into a folder that holds a run: move that run aside "
            "(OUT/previous-TIME/) and start anew.",
        ),
    ] = False,
    auto_fit: Annotated[
        bool,
        typer.Option(
            "--auto-fit", metavar="", help="Let the planner choose settings that fit the card."
        ),
    ] = False,
    vram: Annotated[
        str | None, typer.Option(help="With --auto-fit: budget (default: the GPU's memory).")
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(
            help="A prepared folder of held-out clips: valid_loss every train.eval_every "
            "steps (or hold out data.valid_fraction of --data's)."
        ),
    ] = None,
) -> None:
    """Train one stage; run it under torchrun for several GPUs or nodes."""
    from leanvoice.config import load_config
    from leanvoice.train import train_stage

    cfg = load_config(preset, config, list(overrides or []))
    if auto_fit:
        fitted = _auto_fit(stage, cfg, data, vram)
        cfg = load_config(preset, config, [*(overrides or []), *fitted])
    summary = train_stage(
        stage, data, out, cfg, resume=resume, overwrite=overwrite, console=console, valid=valid
    )
    if summary is not None and os.environ.get("RANK", "0") == "0":
        console.print(
            f"{stage}: {summary['steps']} steps, final loss {summary['final_loss']:.4g}, "
            f"{summary['tokens_per_second']:.0f} tokens/s, padding efficiency "
            f"{summary['padding_efficiency']:.2f} → {out / 'summary.json'}"
        )


def _auto_fit(stage: str, cfg, data: Path, vram: str | None) -> list[str]:
    """The planner's overrides for this stage and data on this card (or `vram`)."""
    import torch

    from leanvoice.errors import ConfigError
    from leanvoice.plan.planner import make_plan, parse_size
    from leanvoice.train.distributed import resolve_device

    device = resolve_device(cfg.train.device)
    if vram is not None:
        budget = parse_size(vram)
    elif device.type == "cuda":
        budget = torch.cuda.get_device_properties(device).total_memory
    else:
        raise ConfigError("--auto-fit on a CPU needs --vram SIZE (the budget to plan for)")
    result = make_plan(stage, cfg, budget, data=data, device=str(device))
    if result.chosen is None:
        raise ConfigError(result.shortfall())
    # one line whatever the width: it is a command line to copy, and scripts read it
    console.print("auto-fit: " + " ".join(result.overrides()), soft_wrap=True, highlight=False)
    return result.overrides()


@app.command(cls=_Command)
def plan(
    stage: Annotated[str, typer.Option(help="gpt or sovits.")],
    vram: Annotated[str | None, typer.Option(help="Memory budget, e.g. 6GB or 64MB.")] = None,
    gpu: Annotated[str | None, typer.Option(help="A card name instead of --vram.")] = None,
    data: Annotated[Path | None, typer.Option(help="Prepared data (its longest clip).")] = None,
    size: Annotated[str | None, typer.Option(help="Model size: tiny or v2.")] = None,
    preset: Annotated[str | None, typer.Option(help="Start from a preset.")] = None,
    headroom: Annotated[float, typer.Option(help="Fraction kept free (fragmentation).")] = 0.1,
    device: Annotated[str, typer.Option(help="Where to measure: cpu or cuda.")] = "cpu",
    plot: Annotated[Path | None, typer.Option(help="Write the plan as a PNG here.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print one JSON object.")
    ] = False,
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides.")] = None,
) -> None:
    """Predict peak training memory and choose settings that fit a card."""
    import json

    from leanvoice.config import load_config
    from leanvoice.errors import ConfigError
    from leanvoice.plan.output import plan_plot, plan_table
    from leanvoice.plan.planner import CHECKPOINTS, OPTIMIZERS, card_bytes, make_plan, parse_size

    if (vram is None) == (gpu is None):
        raise ConfigError("give the budget as --vram SIZE or --gpu NAME")
    budget = parse_size(vram) if vram is not None else card_bytes(gpu)
    extra = list(overrides or []) + ([f"model.size={size}"] if size else [])
    cfg = load_config(preset, None, extra)
    say = console.print if not as_json else lambda *_a, **_k: None
    if cfg.model.size == "v2" and device == "cpu":
        say(
            f"measuring {len(CHECKPOINTS) * len(OPTIMIZERS)} settings with real {stage} v2 "
            "training steps on the CPU: this takes 10-20 minutes (--device cuda on a GPU "
            "takes about a minute)",
            soft_wrap=True,
        )
    result = make_plan(
        stage,
        cfg,
        budget,
        headroom=headroom,
        data=data,
        device=device,
        on_candidate=lambda done, total, line: say(
            f"measured {done}/{total}: memory.checkpoint={line.candidate.checkpoint} "
            f"memory.optimizer={line.candidate.optimizer}",
            soft_wrap=True,
        ),
    )
    if plot is not None:
        plan_plot(result, plot)
    if as_json:
        print(json.dumps(result.as_json()))
        return
    console.print(plan_table(result))
    if result.chosen is None:
        console.print(f"[bold red]{result.shortfall()}")
    else:
        # The overrides get a line of their own, never wrapped, to copy onto a train command.
        console.print("fits with these overrides:")
        console.print(" ".join(result.overrides()), soft_wrap=True)
    if plot is not None:
        console.print(f"plot: {plot}")


# `all` (the CPU set) ends with the goals table; the others run on request
ALL_BENCHES = ("baseline", "memory", "planner", "padding", "throughput", "summary")
BENCHES = (*ALL_BENCHES, "quality", "repeat", "gpu")


@app.command(
    cls=_Command,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
def bench(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(BENCHES)}, or all.")],
    args: Annotated[list[str] | None, typer.Argument(help="Passed to the benchmark.")] = None,
) -> None:
    """Run a benchmark of bench/ (in a source checkout): prints ratios, updates
    docs/benchmarks.md (LEANVOICE_BENCH_PRINT_ONLY=1 only prints)."""
    import subprocess

    from leanvoice.errors import ConfigError

    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "doc.py").is_file():
        raise ConfigError(
            "the benchmarks live in bench/ of the source checkout "
            "(git clone, pip install -e .); this install has none"
        )
    names = ALL_BENCHES if name == "all" else (name,)
    for one in names:
        if one not in BENCHES:
            raise ConfigError(f"unknown benchmark {one!r}; choose from {', '.join(BENCHES)}")
        command = [sys.executable, "-m", f"bench.{one}", *(args or [])]
        if subprocess.run(command, cwd=root).returncode != 0:
            raise typer.Exit(1)


@app.command(cls=_Command)
def synthesize(
    gpt: Annotated[
        Path, typer.Option(help="GPT: training checkpoint, exported or official .ckpt.")
    ],
    sovits: Annotated[Path, typer.Option(help="SoVITS: training checkpoint or .pth.")],
    ref: Annotated[Path, typer.Option(help="Reference audio of the voice, 3-10 s.")],
    ref_text: Annotated[str, typer.Option(help="What the reference audio says.")],
    out: Annotated[Path, typer.Option(help="Output .wav/.flac, or a folder with --text-file.")],
    text: Annotated[str | None, typer.Option(help="Text to speak.")] = None,
    text_file: Annotated[
        Path | None, typer.Option(help="Batch mode: one text per line, one file each.")
    ] = None,
    language: Annotated[
        str, typer.Option(help="auto (split by script), auto_yue, zh, ja, en, ko or yue.")
    ] = "auto",
    ref_language: Annotated[str, typer.Option(help="Language of --ref-text.")] = "auto",
    hubert: Annotated[Path | None, typer.Option(help="Local chinese-hubert-base folder.")] = None,
    bert: Annotated[Path | None, typer.Option(help="Local chinese-roberta folder.")] = None,
    sv: Annotated[
        Path | None,
        typer.Option(
            help="v2Pro/v2ProPlus: the speaker model (pretrained_eres2netv2w24s4ep4.ckpt); "
            "with --feature-models its tiny sv.ckpt is used."
        ),
    ] = None,
    vocoder: Annotated[
        Path | None,
        typer.Option(
            help="v3/v4/v5: the vocoder (v3: the BigVGAN folder "
            "models--nvidia--bigvgan_v2_24khz_100band_256x; v4: gsv-v4-pretrained/vocoder.pth; "
            "v5: gsv-v5-pretrained/vocoder.pth); "
            "with --feature-models its tiny bigvgan/ or vocoder.pth is used."
        ),
    ] = None,
    feature_models: Annotated[
        Path | None, typer.Option(help="Folder with hubert/ and bert/ (e.g. DATA/tiny_models).")
    ] = None,
    top_k: Annotated[int, typer.Option(help="Sample among the k likeliest codes.")] = 15,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling threshold.")] = 1.0,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    repetition_penalty: Annotated[float, typer.Option(help="Penalty on repeated codes.")] = 1.35,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same audio).")] = 0,
    speed: Annotated[float, typer.Option(help="Speaking speed factor.")] = 1.0,
    flow_steps: Annotated[
        int,
        typer.Option(
            help="v3/v4/v5: the flow-matching sampler's steps (0: the version's; v4 8, "
            "v3 and v5dev 32, v5turbo 4)."
        ),
    ] = 0,
    guidance: Annotated[
        float | None,
        typer.Option(help="v3/v4/v5: classifier-free guidance, 0-2 (default: v5dev 1.3, else 0)."),
    ] = None,
    audio_format: Annotated[
        str, typer.Option("--format", help="wav or flac (batch mode; else from --out).")
    ] = "wav",
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    precision: Annotated[str, typer.Option(help="fp32, bf16 or fp16.")] = "fp32",
) -> None:
    """Speak text in the reference voice: mono audio at 32 kHz (v3: 24 kHz, v4/v5: 48 kHz)."""
    from leanvoice.audio.io import write_audio
    from leanvoice.errors import InputError
    from leanvoice.infer import SynthesisOptions, load_synthesizer
    from leanvoice.models.gpt.sampling import SamplingConfig

    if audio_format not in ("wav", "flac"):
        raise InputError(f"--format {audio_format}: use wav or flac")
    if (text is None) == (text_file is None):
        raise InputError("give either --text or --text-file")
    texts = (
        [text]
        if text is not None
        else [
            line.strip()
            for line in Path(text_file).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    )
    targets = (
        [out]
        if text is not None
        else [out / f"{index:04d}.{audio_format}" for index in range(1, len(texts) + 1)]
    )
    inputs = {"--ref": ref, "--gpt": gpt, "--sovits": sovits, "--text-file": text_file}
    inputs |= {"--sv": sv, "--vocoder": vocoder}
    for target in targets:  # before anything is written
        refuse_overwriting_inputs(target, inputs, "--out")
    from leanvoice.infer.cfm_voice import check_sampler_options

    check_sampler_options(flow_steps, guidance)  # before any model is loaded
    synth = load_synthesizer(
        gpt,
        sovits,
        hubert=hubert,
        bert=bert,
        feature_models=feature_models,
        sv=sv,
        vocoder=vocoder,
        device=device,
        precision=precision,
    )
    options = SynthesisOptions(
        language=language,
        reference_language=ref_language,
        seed=seed,
        speed=speed,
        flow_steps=flow_steps,
        guidance=guidance,
        sampling=SamplingConfig(
            top_k=top_k, top_p=top_p, temperature=temperature, repetition_penalty=repetition_penalty
        ),
    )
    for target_text, target in zip(texts, targets, strict=True):

        def written(done: int, total: int, audio, target=target) -> None:
            """Each sentence's audio is on disk as soon as it is made."""
            write_audio(target, audio, synth.sample_rate)
            if total > 1:
                console.print(
                    f"{target}: sentence {done}/{total}, {len(audio) / synth.sample_rate:.1f} s"
                )

        samples = synth.synthesize(ref, ref_text, target_text, options, on_sentence=written)
        write_audio(target, samples, synth.sample_rate)
        console.print(f"{target}: {len(samples) / synth.sample_rate:.1f} s")


@app.command(name="export", cls=_Command)
def export_command(
    checkpoint: Annotated[Path, typer.Argument(help="A training checkpoint (step-N.pt).")],
    out: Annotated[Path, typer.Argument(help="GPT → .ckpt, SoVITS → .pth (official format).")],
) -> None:
    """Write a trained stage in the official v2 format (LoRA adapters merged)."""
    from leanvoice.infer.export import export_checkpoint

    refuse_overwriting_inputs(out, {"CHECKPOINT": checkpoint}, "OUT")
    console.print(export_checkpoint(checkpoint, out))


@app.command(name="import", cls=_Command)
def import_command(
    official: Annotated[Path, typer.Argument(help="An official GPT .ckpt or SoVITS .pth.")],
    out: Annotated[Path, typer.Argument(help="LeanVoice checkpoint to write (.pt).")],
) -> None:
    """Read an official file (safely) and write it as a LeanVoice checkpoint."""
    from leanvoice.infer.export import import_official

    refuse_overwriting_inputs(out, {"OFFICIAL": official}, "OUT")
    console.print(import_official(official, out))


@app.command(cls=_Command)
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "leanvoice-demo"
    ),
    quick: Annotated[
        bool, typer.Option("--quick", metavar="", help="Shorter run (for tests).")
    ] = False,
) -> None:
    """Run the whole job on the built-in demo corpus with tiny models."""
    from leanvoice.demo import run_demo

    run_demo(out, console, quick=quick)


@app.command(cls=_Command)
def ui(
    workspace: Annotated[Path, typer.Option(help="Folder for datasets, runs and outputs.")] = Path(
        "leanvoice-workspace"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", metavar="", help="Allow a --host that other machines can reach."
        ),
    ] = False,
) -> None:
    """The whole workflow in a browser: data, plan, train, synthesize, export."""
    from leanvoice.ui import check_host, launch

    if not check_host(host, allow_remote):
        console.print(
            f"[bold yellow]warning:[/] listening on {host}: anyone who can reach "
            "this address can train and read the workspace"
        )
    launch(workspace, host, port, allow_remote)


def refuse_overwriting_inputs(out: Path, inputs: dict[str, Path | None], label: str) -> None:
    """A command never writes over one of its own inputs: `out` that is the same file as
    an input (by resolved path, symlinks followed, or the same inode) is refused."""
    from leanvoice.errors import InputError

    for name, path in inputs.items():
        if path is None:
            continue
        same = Path(out).resolve() == Path(path).resolve()
        if not same and Path(out).exists() and Path(path).exists():
            same = os.path.samefile(out, path)  # a hard link
        if same:
            raise InputError(
                f"{label} {out} is {name} {path}: writing it would overwrite that input; "
                f"choose another {label}"
            )


def print_report(report: dict) -> None:
    table = Table(title="prepared dataset", show_header=False)
    table.add_row("clips", str(report["clips"]))
    table.add_row("hours", f"{report['hours']:.3f} ({report['seconds']:.1f} s)")
    table.add_row("longest clip", f"{report['max_clip_sec']:.2f} s")
    for speaker, count in report["clips_per_speaker"].items():
        table.add_row(f"speaker {speaker}", f"{count} clips")
    histogram = "  ".join(
        f"{b['from_sec']}-{b['to_sec']}s:{b['clips']}" for b in report["duration_histogram"]
    )
    table.add_row("durations", histogram or "-")
    table.add_row("skipped", str(len(report["skipped"])))
    console.print(table)
    for item in report["skipped"]:
        console.print(f"  [yellow]skipped[/] {item['origin']}: {item['reason']}")


WRITE_FAILURES = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES}

# optional libraries log warnings about kernels this machine does not need at import
QUIET_LOGGERS = ("torchao", "bitsandbytes", "torch.utils._pytree")


def main() -> None:
    import logging

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        app()
    except LeanVoiceError as exc:
        if _state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)  # one line, never wrapped
        sys.exit(2)
    except OSError as exc:  # a full disk or a refused write where no step expected it
        if _state["debug"] or exc.errno not in WRITE_FAILURES:
            raise
        print(f"error: {exc.filename or 'a file'}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)
