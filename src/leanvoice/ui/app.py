"""The Gradio app: one tab per step of the workflow, each a thin layer over the Python
API (prepare, plan, train, synthesize, export); no logic of its own lives here.

Everything is kept under one workspace folder (`data/NAME` prepared datasets, `runs/NAME`
training runs, `out/` synthesized audio and `out/export/NAME` exports), so a refreshed
page finds the same datasets and runs again. What the UI writes is named by a plain name
(`plain_name`), never a path: nothing typed into the page or sent to its API writes
outside the workspace. Inputs (the recordings, checkpoints to read) may be paths.
"""

from __future__ import annotations

import functools
import logging
import re
import shlex
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

from leanvoice.errors import InputError, LeanVoiceError
from leanvoice.figures import COLOURS
from leanvoice.text.g2p import OFFICIAL_LANGUAGES
from leanvoice.text.segment import MIXED_MODES
from leanvoice.ui import plots, runs

LANGUAGE_CHOICES = [*MIXED_MODES, *OFFICIAL_LANGUAGES]

log = logging.getLogger("leanvoice.ui")
PRESETS = ["(none)", "timbre", "small", "scratch"]
# `model.version`: the SoVITS the run trains (the GPT is the same model in every version)
VERSIONS = ["v2", "v2Pro", "v2ProPlus", "v4", "v3", "v5dev", "v5turbo"]
VERSION_HELP = (
    "v2Pro/v2ProPlus need speaker embeddings (Data: speaker model); "
    "v4 and v5 speak through a 48 kHz vocoder, v3 through BigVGAN at 24 kHz"
)
NAME_MAX_CHARS = 64
# letters (any script), digits, '_', then also '-' and '.': no separator, no leading dot
PLAIN_NAME = re.compile(r"\w[\w.-]*")


def _version_dropdown(elem_id: str):
    """The SoVITS version choice of the Plan and Train tabs (model.version)."""
    return gr.Dropdown(
        VERSIONS, value="v2", label="SoVITS version", info=VERSION_HELP, elem_id=elem_id
    )


def plain_name(name: str | None, what: str) -> str:
    """`name` as one plain file or folder name, or an InputError of one line: the UI
    writes only under names it checked here (no '/', '\\', '..', leading dot, absolute
    path or control character; at most NAME_MAX_CHARS)."""
    name = (name or "").strip()
    if not name:
        raise InputError(f"choose or type a {what} name")
    if len(name) > NAME_MAX_CHARS or not PLAIN_NAME.fullmatch(name):
        raise InputError(
            f"{what} name {name[:NAME_MAX_CHARS]!r}: use a plain name of letters, digits, "
            f"'_', '-' and '.' (not first), at most {NAME_MAX_CHARS} characters, not a path"
        )
    return name


def inside(folder: Path, name: str, what: str) -> Path:
    """`folder/name` for a plain `name`, refused when it leads out of `folder` (a link)."""
    path = folder / plain_name(name, what)
    if path.resolve().parent != folder.resolve():
        raise InputError(f"{what} {name!r}: {path} leads outside {folder}; choose another name")
    return path


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        for folder in ("data", "runs", "out"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def datasets(self) -> list[str]:
        return sorted(p.parent.name for p in (self.root / "data").glob("*/manifest.jsonl"))

    def runs(self) -> list[str]:
        return sorted(p.name for p in (self.root / "runs").iterdir() if p.is_dir())

    def dataset(self, name: str | None) -> Path:
        """data/NAME: a prepared dataset of the workspace."""
        return inside(self.root / "data", name, "dataset")

    def run(self, name: str | None) -> Path:
        """runs/NAME: a training run of the workspace."""
        return inside(self.root / "runs", name, "run")

    def export(self, name: str | None, suffix: str) -> Path:
        """out/export/NAME.SUFFIX (a typed suffix is not doubled)."""
        name = plain_name((name or "").strip().removesuffix(suffix), "export file")
        return inside(self.root / "out" / "export", name + suffix, "export file")

    def checkpoints(self) -> list[str]:
        """Newest checkpoint of each run, plus exported and official files in out/."""
        found = []
        for name in self.runs():
            latest = runs.latest_checkpoint(self.root / "runs" / name)
            if latest is not None:
                found.append(str(latest))
        found += [
            str(p)
            for p in sorted((self.root / "out").glob("**/*"))
            if p.suffix in (".ckpt", ".pth")
        ]
        return found


def inline(outputs: int):
    """Turn any failure of a handler into a one-line message in the tab's status box (the
    handler's first output) and leave its other outputs as they are: no stack trace ever
    reaches the page; unexpected errors log theirs in the terminal."""

    def wrap(handler):
        @functools.wraps(handler)
        def wrapped(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except LeanVoiceError as exc:
                message = str(exc)
            except (OSError, ValueError, KeyError) as exc:
                message = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # the page must never show a trace
                log.error("UI handler %s failed:\n%s", handler.__name__, traceback.format_exc())
                message = f"unexpected {type(exc).__name__}: {exc} (details in the terminal)"
            error = f"**Error:** {message}"
            return error if outputs == 1 else (error, *[gr.skip()] * (outputs - 1))

        return wrapped

    return wrap


# -- Data ---------------------------------------------------------------------------------
def _report_markdown(report: dict[str, Any], out: Path) -> str:
    lines = [
        f"**Prepared** `{out}`: {report['clips']} clips, {report['hours']:.3f} h "
        f"({report['seconds']:.1f} s), longest {report['max_clip_sec']:.2f} s",
        "",
    ]
    lines += [f"- speaker **{s}**: {n} clips" for s, n in report["clips_per_speaker"].items()]
    if report.get("source_encoding", "UTF-8") != "UTF-8":
        lines.append(f"\nThe list was read as {report['source_encoding']} (not UTF-8).")
    return "\n".join(lines)


def _speaker_model(sv: str | None, tiny: bool) -> str | Path | None:
    """The Data tab's speaker-model field as `run_feature_step(sv=)` takes it: None (no
    speaker embeddings), "tiny" (with the tiny models only) or the path of a file."""
    from leanvoice.data.features_step import TINY_SPEAKER_MODEL

    sv = (sv or "").strip()
    if not sv:
        return None
    if sv == TINY_SPEAKER_MODEL:
        if not tiny:
            raise InputError(
                "speaker model 'tiny' goes with the built-in tiny models; for official "
                "features give the official sv/pretrained_eres2netv2w24s4ep4.ckpt"
            )
        return TINY_SPEAKER_MODEL
    path = Path(sv).expanduser()
    if not path.is_file():
        raise InputError(
            f"speaker model {path}: no such file (the official "
            "pretrained_eres2netv2w24s4ep4.ckpt, or 'tiny' with the tiny models)"
        )
    return path


def data_tab(ws: Workspace) -> dict[str, Any]:
    from leanvoice.demo import demo_corpus_list

    with gr.Tab("Data", id="data"):
        gr.Markdown(
            "From a folder of recordings (with a `.list`, `metadata.csv` or "
            "transcripts beside them) to a prepared dataset."
        )
        with gr.Row():
            source = gr.Textbox(
                label="Source: .list file, metadata.csv or folder", elem_id="data-source", scale=4
            )
            use_demo = gr.Button("Use the demo corpus", elem_id="data-use-demo", scale=1)
        with gr.Row():
            name = gr.Textbox(
                label="Dataset name (under the workspace's data/)",
                value="demo",
                elem_id="data-name",
            )
            language = gr.Dropdown(LANGUAGE_CHOICES, value="auto", label="Language")
            max_sec = gr.Number(value=15.0, label="Longest clip (s)", minimum=1, maximum=60)
        features = gr.Radio(
            ["built-in tiny models (test, demo)", "official models (paths below)"],
            value="built-in tiny models (test, demo)",
            label="Features",
            elem_id="data-features",
        )
        with gr.Row():
            hubert = gr.Textbox(label="chinese-hubert-base folder")
            bert = gr.Textbox(label="chinese-roberta-wwm-ext-large folder")
            sovits = gr.Textbox(label="SoVITS .pth (its quantizer defines the codes)")
        sv = gr.Textbox(
            label="Speaker model for v2Pro/v2ProPlus (optional; writes sv/): the official "
            "sv/pretrained_eres2netv2w24s4ep4.ckpt, or 'tiny' with the built-in tiny models",
            placeholder="leave empty for v2 and v4",
            value="",  # also the API default (clients may leave it out)
            elem_id="data-sv",
        )
        run = gr.Button("Prepare", variant="primary", elem_id="data-prepare")
        status = gr.Markdown(elem_id="data-status")
        chart = gr.Image(label="Clip lengths", type="pil", elem_id="data-histogram")
        skipped = gr.Dataframe(
            headers=["file", "reason"], label="Skipped files", elem_id="data-skipped"
        )

    use_demo.click(lambda: (str(demo_corpus_list()), "demo"), outputs=[source, name])

    @inline(outputs=3)
    def prepare(
        source,
        name,
        language,
        max_sec,
        features,
        hubert,
        bert,
        sovits,
        sv,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way
    ):
        from leanvoice.config import load_config
        from leanvoice.data.features_step import run_feature_step
        from leanvoice.data.prepare import prepare_dataset

        if not (source or "").strip():
            raise LeanVoiceError("give the source: a .list file, metadata.csv or a folder")
        src = Path(source.strip()).expanduser()
        if not src.exists():
            raise LeanVoiceError(f"{src}: no such file or folder")
        tiny = features.startswith("built-in")
        if not tiny and not (hubert and bert and sovits):
            raise LeanVoiceError("official features need the HuBERT, BERT and SoVITS paths")
        speaker = _speaker_model(sv, tiny)
        out = ws.dataset(name)
        cfg = load_config(overrides=[f"data.max_sec={float(max_sec)}"])
        progress(0, desc="preparing clips")
        result = prepare_dataset(
            src,
            out,
            cfg,
            language=language,
            on_item=lambda d, t: progress((d, t), desc="preparing clips"),
        )
        report = result.report
        rows = [[item["origin"], item["reason"]] for item in report["skipped"]]
        if not result.clips:
            return ("**Error:** no usable clips; see the skipped files", None, rows)
        progress(0.9, desc="extracting features")
        run_feature_step(
            result.out,
            tiny=tiny,
            hubert=Path(hubert) if hubert else None,
            bert=Path(bert) if bert else None,
            sovits=Path(sovits) if sovits else None,
            sv=speaker,
        )
        ready = (
            "Features and speaker embeddings (sv/) extracted: ready to train, v2Pro and "
            "v2ProPlus too."
            if speaker is not None
            else "Features extracted: ready to train."
        )
        text = _report_markdown(report, result.out) + "\n\n" + ready
        return text, plots.histogram(report["duration_histogram"]), rows

    run.click(
        prepare,
        [source, name, language, max_sec, features, hubert, bert, sovits, sv],
        [status, chart, skipped],
    )
    return {"prepare": run}


# -- Plan ---------------------------------------------------------------------------------
def _version(version: str | None) -> str:
    """A SoVITS version from the dropdown (empty: the default v2), or a one-line refusal."""
    version = (version or "").strip() or "v2"
    if version not in VERSIONS:
        raise InputError(f"SoVITS version {version!r}: choose one of {', '.join(VERSIONS)}")
    return version


def plan_tab(ws: Workspace) -> None:
    from leanvoice.plan.planner import CARDS_GB

    with gr.Tab("Plan", id="plan"):
        gr.Markdown(
            "Will it fit on my card, and with what settings? The planner measures "
            "real training steps on this machine and predicts the peak."
        )
        with gr.Row():
            stage = gr.Radio(["gpt", "sovits"], value="gpt", label="Stage", elem_id="plan-stage")
            size = gr.Dropdown(["tiny", "v2"], value="v2", label="Model size", elem_id="plan-size")
            version = _version_dropdown("plan-version")
            preset = gr.Dropdown(PRESETS, value="(none)", label="Preset")
        with gr.Row():
            card = gr.Dropdown(
                ["(type the memory)", *CARDS_GB], value="(type the memory)", label="Card"
            )
            vram = gr.Textbox(value="8GB", label="Memory (e.g. 6GB, 64MB)", elem_id="plan-vram")
            headroom = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Headroom")
            dataset = gr.Dropdown(choices=[], label="Dataset (optional)", allow_custom_value=True)
        run = gr.Button("Plan", variant="primary", elem_id="plan-run")
        status = gr.Markdown(elem_id="plan-status")
        chart = gr.Image(
            label="Memory per setting against the budget", type="filepath", elem_id="plan-plot"
        )
        table = gr.Dataframe(label="Candidates", elem_id="plan-table")

    @inline(outputs=3)
    def plan(
        stage,
        size,
        preset,
        card,
        vram,
        headroom,
        dataset,
        version,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way
    ):
        from leanvoice.config import load_config
        from leanvoice.plan.output import plan_plot
        from leanvoice.plan.planner import card_bytes, make_plan, parse_size

        budget = parse_size(vram) if card.startswith("(") else card_bytes(card)
        overrides = [f"model.size={size}", f"model.version={_version(version)}"]
        cfg = load_config(None if preset == "(none)" else preset, None, overrides)
        data = ws.dataset(dataset) if dataset else None
        progress(0, desc="measuring training steps")
        result = make_plan(stage, cfg, budget, headroom=float(headroom), data=data)
        name = f"plan-{stage}-{size}-{cfg.model.version}.png"
        picture = plan_plot(result, ws.root / "out" / name)
        rows = [
            [
                line.candidate.checkpoint,
                line.candidate.optimizer,
                line.largest_batch(result.usable_bytes) * result.clip_cost,
                f"{line.peak(max(line.largest_batch(result.usable_bytes), 1)) / 2**20:.1f}",
                "chosen" if line is result.chosen else "",
            ]
            for line in result.lines
        ]
        frame = {
            "headers": ["checkpoint", "optimizer", "batch budget", "peak MiB", ""],
            "data": rows,
        }
        if result.chosen is None:
            return f"**Does not fit.** {result.shortfall()}", str(picture), frame
        overrides = " ".join(result.overrides())
        if cfg.model.version != "v2":  # what Train needs besides the planner's settings
            overrides = f"model.version={cfg.model.version} {overrides}"
        return (
            f"**Fits.** Train with: `{overrides}` (predicted peak "
            f"{result.as_json()['predicted_peak_bytes'] / 2**20:.1f} MiB)",
            str(picture),
            frame,
        )

    run.click(
        plan, [stage, size, preset, card, vram, headroom, dataset, version], [status, chart, table]
    )
    return dataset


# -- Train --------------------------------------------------------------------------------
def train_tab(ws: Workspace) -> tuple[Any, Any]:
    with gr.Tab("Train", id="train"):
        gr.Markdown(
            "Each run is its own process: closing or refreshing the page leaves it "
            "going. Stop writes a checkpoint; Start on the same run resumes it."
        )
        with gr.Row():
            stage = gr.Radio(["gpt", "sovits"], value="gpt", label="Stage", elem_id="train-stage")
            dataset = gr.Dropdown(
                choices=ws.datasets(),
                label="Dataset",
                allow_custom_value=True,
                elem_id="train-dataset",
            )
            run_name = gr.Dropdown(
                choices=ws.runs(),
                label="Run (under the workspace's runs/)",
                allow_custom_value=True,
                elem_id="train-run",
            )
        with gr.Row():
            preset = gr.Dropdown(PRESETS, value="(none)", label="Preset")
            size = gr.Dropdown(["tiny", "v2"], value="v2", label="Model size", elem_id="train-size")
            version = _version_dropdown("train-version")
            steps = gr.Number(value=1000, label="Steps", precision=0, elem_id="train-steps")
            extra = gr.Textbox(label="More settings (key=value …)", elem_id="train-extra")
        with gr.Row():
            start = gr.Button("Start / resume", variant="primary", elem_id="train-start")
            stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        status = gr.Markdown(elem_id="train-status")
        with gr.Row():
            loss = gr.Image(label="Loss", type="pil", elem_id="train-loss")
            memory = gr.Image(label="Peak memory", type="pil", elem_id="train-memory")
        audition = gr.Audio(
            label="Latest audition sample", type="filepath", elem_id="train-audition"
        )
        timer = gr.Timer(2.0)
        shown = gr.State(None)  # the audition sample the player holds

    @inline(outputs=2)
    def start_run(stage, dataset, run_name, preset, size, steps, extra, version):
        if not dataset:
            raise LeanVoiceError("choose a prepared dataset (Data tab) or type its path")
        overrides = [
            f"model.size={size}",
            f"model.version={_version(version)}",  # "More settings" may still set it
            f"train.max_steps={int(steps)}",
            *shlex.split(extra or ""),
        ]
        from leanvoice.config import load_config

        load_config(None if preset == "(none)" else preset, None, overrides)  # errors here
        run = ws.run(run_name)
        pid = runs.start_run(
            stage, ws.dataset(dataset), run, None if preset == "(none)" else preset, overrides
        )
        return f"started {stage} run `{run}` (process {pid})", gr.update(
            choices=ws.runs(), value=run.name
        )

    @inline(outputs=1)
    def stop_run(run_name):
        return runs.stop_run(ws.run(run_name))

    def refresh(run_name, shown):
        """What the timer shows: never raises (a half-typed run name is simply 'no run').
        The audition player is only set when a new sample exists, so that a tick does not
        interrupt someone listening."""
        if not run_name:
            return "choose or name a run", None, None, gr.skip(), shown
        try:
            run = ws.run(run_name)
            state = runs.status(run)
            points = runs.metrics(run)
        except (LeanVoiceError, OSError, ValueError) as exc:
            return f"**Error:** {exc}", None, None, gr.skip(), shown
        loss_image = plots.curve([(p["step"], p["loss"]) for p in points], "loss")
        peak = [(p["step"], p["peak_bytes"]) for p in points if "peak_bytes" in p]
        memory_image = plots.curve(peak, "peak memory", as_bytes=True, colour=COLOURS[3])
        loss_text = f", loss {state.loss:.4g}" if state.loss is not None else ""
        text = (
            f"**{state.state}** — step {state.step}/{state.max_steps}{loss_text}: {state.message}"
        )
        sample = runs.latest_audition(run)
        sample = str(sample) if sample else None
        if sample == shown:
            return text, loss_image, memory_image, gr.skip(), shown
        return text, loss_image, memory_image, sample, sample

    def fill_form(run_name):
        """A run chosen (or found going after a refresh) brings back its settings."""
        try:
            found = runs.settings(ws.run(run_name)) if run_name else None
        except LeanVoiceError:  # a name being typed, or not a plain one: Start says why
            found = None
        if found is None:
            return [gr.skip()] * 7
        overrides = found["overrides"]
        size = next((o.split("=", 1)[1] for o in overrides if o.startswith("model.size=")), None)
        steps = next(
            (int(o.split("=", 1)[1]) for o in overrides if o.startswith("train.max_steps=")), None
        )
        # the last one counts (as in the config); a run started without one trained v2
        versions = [o.split("=", 1)[1] for o in overrides if o.startswith("model.version=")]
        version = versions[-1] if versions and versions[-1] in VERSIONS else "v2"
        fields = ("model.size=", "model.version=", "train.max_steps=")
        rest = [o for o in overrides if not o.startswith(fields)]
        data = Path(found["data"])
        dataset = data.name if data.parent == ws.root / "data" else str(data)
        return (
            found["stage"],
            dataset,
            found["preset"] or "(none)",
            size or gr.skip(),
            steps if steps is not None else gr.skip(),
            " ".join(map(shlex.quote, rest)),
            version,
        )

    run_name.change(fill_form, [run_name], [stage, dataset, preset, size, steps, extra, version])
    start.click(
        start_run,
        [stage, dataset, run_name, preset, size, steps, extra, version],
        [status, run_name],
    )
    stop.click(stop_run, [run_name], [status])
    timer.tick(refresh, [run_name, shown], [status, loss, memory, audition, shown])
    return dataset, run_name


# -- Synthesize ---------------------------------------------------------------------------
def _optional_path(text: str | None) -> Path | None:
    """A path typed into an optional field (a file to read), or None when left empty."""
    text = (text or "").strip()
    return Path(text).expanduser() if text else None


def _optional_guidance(text: str | float | None) -> float | None:
    """The guidance field: None when left empty (the version's), else a number."""
    text = str(text if text is not None else "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"guidance {text!r}: give a number from 0 to 2, or leave it empty"
        ) from None


def synthesize_tab(ws: Workspace) -> tuple[Any, Any]:
    with gr.Tab("Synthesize", id="synthesize") as tab:
        with gr.Row():
            gpt = gr.Dropdown(
                choices=[],
                label="GPT checkpoint (.pt, .ckpt)",
                allow_custom_value=True,
                elem_id="synth-gpt",
            )
            sovits = gr.Dropdown(
                choices=[],
                label="SoVITS checkpoint (.pt, .pth)",
                allow_custom_value=True,
                elem_id="synth-sovits",
            )
            features = gr.Textbox(
                label="Feature models folder (hubert/ and bert/)", elem_id="synth-features"
            )
        with gr.Row():
            sv = gr.Textbox(
                label="Speaker model, v2Pro/v2ProPlus (pretrained_eres2netv2w24s4ep4.ckpt)",
                placeholder="empty: the feature models folder's tiny sv.ckpt, if any",
                value="",  # also the API default (clients may leave it out)
                elem_id="synth-sv",
            )
            vocoder = gr.Textbox(
                label="Vocoder: v4 gsv-v4-pretrained/vocoder.pth, v5 gsv-v5-pretrained/"
                "vocoder.pth, v3 the BigVGAN folder",
                placeholder="empty: the feature models folder's tiny vocoder, if any",
                value="",  # also the API default (clients may leave it out)
                elem_id="synth-vocoder",
            )
        reference = gr.Audio(
            label="Reference audio, 3-10 s",
            sources=["upload", "microphone"],
            type="filepath",
            elem_id="synth-reference",
        )
        reference_text = gr.Textbox(label="What the reference says", elem_id="synth-ref-text")
        text = gr.Textbox(label="Text to speak", lines=3, elem_id="synth-text")
        with gr.Row():
            language = gr.Dropdown(LANGUAGE_CHOICES, value="auto", label="Language")
            seed = gr.Number(value=0, precision=0, label="Seed")
            flow_steps = gr.Number(
                value=0,  # also the API default
                precision=0,
                label="Flow steps, v3/v4/v5 (0: the version's)",
                elem_id="synth-flow-steps",
            )
            guidance = gr.Textbox(
                label="Guidance, v3/v4/v5 (0-2)",
                placeholder="empty: the version's (v5dev 1.3, else 0)",
                value="",  # also the API default
                elem_id="synth-guidance",
            )
        run = gr.Button("Synthesize", variant="primary", elem_id="synth-run")
        status = gr.Markdown(elem_id="synth-status")
        result = gr.Audio(label="Result", type="filepath", elem_id="synth-result")
        download = gr.File(label="Download", elem_id="synth-download")

    @inline(outputs=3)
    def synthesize(
        gpt,
        sovits,
        features,
        reference,
        reference_text,
        text,
        language,
        seed,
        sv,
        vocoder,
        flow_steps=0,
        guidance="",
    ):
        from leanvoice.audio.io import write_audio
        from leanvoice.audio.quality import measure, speech_like
        from leanvoice.infer import SynthesisOptions, load_synthesizer

        if not gpt or not sovits:
            raise LeanVoiceError("choose a GPT and a SoVITS checkpoint")
        if not reference:
            raise LeanVoiceError("upload or record a reference clip")
        if not features:
            raise LeanVoiceError(
                "give the feature models folder (a dataset's tiny_models/ "
                "or a folder with hubert/ and bert/)"
            )
        synth = load_synthesizer(
            Path(gpt),
            Path(sovits),
            feature_models=Path(features),
            sv=_optional_path(sv),
            vocoder=_optional_path(vocoder),
        )
        options = SynthesisOptions(
            language=language,
            seed=int(seed),
            flow_steps=int(flow_steps or 0),
            guidance=_optional_guidance(guidance),
        )
        samples = synth.synthesize(Path(reference), reference_text, text, options)
        out = ws.root / "out" / f"synth-{datetime.now():%Y%m%d-%H%M%S-%f}.wav"
        write_audio(out, samples, synth.sample_rate)
        seconds = len(samples) / synth.sample_rate
        quality = measure(samples, synth.sample_rate)
        problems = speech_like(quality)
        verdict = "speech-like" if not problems else "not speech-like: " + "; ".join(problems)
        report = (
            f"{100 * quality.voiced_fraction:.0f} % of frames voiced at "
            f"{quality.voiced_rms_dbfs:.0f} dBFS, DC {quality.dc_offset:+.4f}, edges "
            f"{quality.edge_peak:.2f} — {verdict}"
        )
        rate = f"{synth.sample_rate / 1000:g} kHz"  # 48 kHz from a v4 voice, else 32 kHz
        if synth.voice is not None:  # the flow-matching sampler's settings, as used
            settings = synth.voice.model.size.settings
            steps, cfg = settings.sampler(options.flow_steps, options.guidance)
            rate += f", {steps} flow steps, guidance {cfg:g}"
        return f"{seconds:.2f} s of audio at {rate} → `{out}`  \n{report}", str(out), str(out)

    run.click(
        synthesize,
        [
            *(gpt, sovits, features, reference, reference_text, text, language, seed),
            *(sv, vocoder, flow_steps, guidance),
        ],
        [status, result, download],
    )
    return tab, gpt, sovits, features


# -- Export -------------------------------------------------------------------------------
def export_tab(ws: Workspace) -> Any:
    with gr.Tab("Export", id="export") as tab:
        gr.Markdown(
            "Write official GPT-SoVITS files for the official tools, in the version the "
            "checkpoint was trained as (v2, v2Pro, v2ProPlus: LoRA adapters merged; a v4/v3 "
            "LoRA run: the official LoRA file)."
        )
        checkpoint = gr.Dropdown(
            choices=[], label="Checkpoint", allow_custom_value=True, elem_id="export-checkpoint"
        )
        name = gr.Textbox(
            label="File name (in the workspace's out/export/)", value="voice", elem_id="export-name"
        )
        run = gr.Button("Export", variant="primary", elem_id="export-run")
        status = gr.Markdown(elem_id="export-status")

    @inline(outputs=1)
    def export(checkpoint, name):
        from leanvoice.infer.export import export_checkpoint
        from leanvoice.train.checkpoint import read_checkpoint_file

        if not checkpoint:
            raise LeanVoiceError("choose a checkpoint")
        plain_name((name or "").strip().removesuffix(".ckpt").removesuffix(".pth"), "export file")
        stage = read_checkpoint_file(Path(checkpoint)).stage
        out = ws.export(name, ".ckpt" if stage == "gpt" else ".pth")
        return export_checkpoint(Path(checkpoint), out)

    run.click(export, [checkpoint, name], [status])
    return tab, checkpoint


def build_app(workspace: Path) -> gr.Blocks:
    ws = Workspace(workspace)
    with gr.Blocks(title="LeanVoice") as app:
        gr.Markdown(f"# LeanVoice\nWorkspace: `{ws.root}`")
        with gr.Tabs():
            data_tab(ws)
            plan_dataset = plan_tab(ws)
            train_dataset, run_name = train_tab(ws)
            synth_tab, gpt, sovits, features = synthesize_tab(ws)
            export_page, export_checkpoint = export_tab(ws)

        def on_load():
            """Fill the pickers from the workspace; pick the run that is going, if any (a
            refreshed page shows the same run)."""
            names = ws.runs()
            going = [n for n in names if runs.running_pid(ws.root / "runs" / n) is not None]
            current = going[-1] if going else (names[-1] if names else None)
            datasets, checkpoints = ws.datasets(), ws.checkpoints()
            tiny = [
                str(ws.root / "data" / d / "tiny_models")
                for d in datasets
                if (ws.root / "data" / d / "tiny_models").is_dir()
            ]
            return (
                gr.update(choices=datasets),
                gr.update(choices=datasets),
                gr.update(choices=names, value=current),
                gr.update(choices=checkpoints),
                gr.update(choices=checkpoints),
                tiny[0] if tiny else "",
                gr.update(choices=checkpoints),
            )

        pickers = [plan_dataset, train_dataset, run_name, gpt, sovits, features, export_checkpoint]
        app.load(on_load, outputs=pickers)

        def checkpoints_now():
            found = ws.checkpoints()
            return gr.update(choices=found), gr.update(choices=found)

        synth_tab.select(checkpoints_now, outputs=[gpt, sovits])
        export_page.select(lambda: gr.update(choices=ws.checkpoints()), outputs=export_checkpoint)
    return app
