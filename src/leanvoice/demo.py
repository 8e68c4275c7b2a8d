"""`leanvoice demo`: the whole job on the shipped corpus, as a real user does it but with
tiny models: prepare → features (with the shipped tiny HuBERT, BERT and SoVITS base) →
fine-tune the shipped GPT and SoVITS bases on the demo speakers → synthesize a Mandarin
and an English sentence, each in one speaker's voice, and measure them → export to the
official formats. CPU is enough; a GPU is used when present."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from rich.console import Console

from leanvoice.audio.quality import measure, mel_signature, speech_like
from leanvoice.config import load_config
from leanvoice.data.manifest import ClipRecord, read_manifest
from leanvoice.data.prepare import prepare_dataset
from leanvoice.errors import InputError
from leanvoice.fsutil import atomic_write_json
from leanvoice.text.g2p import g2p

# what the demo says, and in whose voice
SENTENCES = {
    "zh": "今天天气很好，我们一起去公园散步吧。",
    "en": "LeanVoice trains a voice on the card you already own.",
}
VOICES = {"zh": "ava", "en": "ben"}
# fine-tuning steps per stage: full demo / --quick (the test suite)
STEPS = {"gpt": (200, 60), "sovits": (120, 30)}
LEARNING_RATE = {"gpt": 1e-3, "sovits": 2e-4}
# SoVITS's step costs per clip (the decoder and discriminators run on a slice of each):
# 4 clips a step, as small as official SoVITS batches are, keeps its steps cheap on a CPU
EXTRA = {"gpt": [], "sovits": ["data.max_clips=4"]}


@dataclass
class DemoResult:
    out: Path
    waves: dict[str, Path]
    exported: list[Path]


def demo_corpus_list() -> Path:
    """The shipped demo corpus: 40 clips, two synthetic speakers, Mandarin and English."""
    return Path(str(resources.files("leanvoice") / "demo_data" / "demo.list"))


def demo_bases() -> Path:
    """The shipped tiny bases (scripts/make_tiny_bases.py made them; provenance.json
    says how): hubert/, bert/, gpt.ckpt, sovits.pth (s2G) and sovits_d.pth (s2D)."""
    bases = Path(str(resources.files("leanvoice") / "demo_data" / "bases"))
    missing = [
        name
        for name in ("hubert", "bert", "gpt.ckpt", "sovits.pth", "sovits_d.pth")
        if not (bases / name).exists()
    ]
    if missing:
        raise InputError(
            f"{bases}: the tiny bases lack {', '.join(missing)}; "
            "scripts/make_tiny_bases.py makes them"
        )
    return bases


def run_demo(out: Path, console: Console, *, quick: bool = False) -> DemoResult:
    from leanvoice.audio.io import write_wav
    from leanvoice.data.features_step import run_feature_step
    from leanvoice.infer import SynthesisOptions, load_synthesizer
    from leanvoice.infer.export import export_checkpoint
    from leanvoice.train import train_stage
    from leanvoice.train.checkpoint import list_checkpoints

    console.rule("[bold]LeanVoice demo")
    bases = demo_bases()
    console.print(f"corpus: {demo_corpus_list()}\nbases: {bases}\noutput: {out}")
    console.rule("1. prepare")
    cfg = load_config(overrides=["model.size=tiny"])
    result = prepare_dataset(demo_corpus_list(), out / "prepared", cfg)
    report = result.report
    console.print(
        f"{report['clips']} clips, {report['seconds']:.1f} s, speakers "
        f"{report['clips_per_speaker']}, languages {report['clips_per_language']}; "
        f"{result.processed_now} processed now, {len(report['skipped'])} skipped"
    )
    console.rule("2. features (the shipped tiny HuBERT, BERT and SoVITS base)")
    features = run_feature_step(
        result.out, hubert=bases / "hubert", bert=bases / "bert", sovits=bases / "sovits.pth"
    )
    console.print(f"{features.clips} clips with SSL, BERT and semantic features")

    runs = {}
    bases_overrides = [
        f"model.gpt_init={bases / 'gpt.ckpt'}",
        f"model.sovits_init={bases / 'sovits.pth'}",
        f"model.sovits_d_init={bases / 'sovits_d.pth'}",
    ]
    for number, stage in ((3, "gpt"), (4, "sovits")):
        steps = STEPS[stage][1 if quick else 0]
        console.rule(
            f"{number}. fine-tune {stage.upper()} from its base ({steps} steps; memory report "
            "first)"
        )
        stage_cfg = load_config(
            overrides=[
                "model.size=tiny",
                *bases_overrides,
                f"train.max_steps={steps}",
                f"train.save_every={steps}",
                f"train.audition_every={steps}",
                "memory.checkpoint=all",
                f"train.lr={LEARNING_RATE[stage]}",
                *EXTRA[stage],
            ]
        )
        runs[stage] = out / "runs" / stage
        summary = train_stage(stage, result.out, runs[stage], stage_cfg, console=console)
        console.print(
            f"{stage}: final loss {summary['final_loss']:.3f}, "
            f"{summary['tokens_per_second']:.0f} tokens/s, padding efficiency "
            f"{summary['padding_efficiency']:.2f} → {runs[stage] / 'summary.json'}"
        )

    console.rule("5. synthesize")
    gpt_ckpt = list_checkpoints(runs["gpt"])[-1]
    sovits_ckpt = list_checkpoints(runs["sovits"])[-1]
    synth = load_synthesizer(gpt_ckpt, sovits_ckpt, feature_models=bases)
    speakers = speaker_signatures(result.out)
    waves, qualities = {}, {}
    for language, sentence in SENTENCES.items():
        reference = reference_clip(result.out, VOICES[language], language)
        samples = synth.synthesize(
            result.out / reference.wav,
            reference.text,
            sentence,
            SynthesisOptions(language=language, seed=0),
        )
        waves[language] = out / f"voice.{language}.wav"
        write_wav(waves[language], samples, synth.sample_rate)
        seconds_per_phoneme = reference.duration_sec / len(reference.phoneme_ids)
        expected = seconds_per_phoneme * len(g2p(sentence, language).phoneme_ids)
        quality = measure(samples, synth.sample_rate, expected_sec=expected, speakers=speakers)
        problems = speech_like(quality)
        qualities[language] = {
            "text": sentence,
            "file": str(waves[language]),
            "speaker": reference.speaker,
            **quality.as_dict(),
            "closest_speaker": quality.closest_speaker(),
            "not_speech_like": problems,
        }
        console.print(
            f"{waves[language]} ({reference.speaker}'s voice): {quality.duration_sec:.1f} s "
            f"(expected {expected:.1f} s), {100 * quality.voiced_fraction:.0f} % voiced at "
            f"{quality.voiced_rms_dbfs:.0f} dBFS, closest to {quality.closest_speaker()}"
            + (f"; not speech-like: {', '.join(problems)}" if problems else "")
        )
    atomic_write_json(out / "report.json", {"utterances": qualities})
    console.print(f"quality report: {out / 'report.json'}")

    console.rule("6. export (official v2 formats)")
    exported = [out / "export" / "gpt.ckpt", out / "export" / "sovits.pth"]
    for checkpoint, target in zip((gpt_ckpt, sovits_ckpt), exported, strict=True):
        console.print(export_checkpoint(checkpoint, target))

    console.rule("done")
    unlike = [language for language, entry in qualities.items() if entry["not_speech_like"]]
    verdict = (
        "both utterances are speech-like by the report's measures"
        if not unlike
        else f"the {unlike[0]} utterance is not speech-like yet (see the report)"
        if len(unlike) == 1
        else "neither utterance is speech-like yet (see the report)"
    )
    console.print(
        f"The tiny bases had minutes of CPU training on synthetic voices: {verdict}. "
        "The pipeline is the real one. On your own data, with the official v2 models "
        "(docs/guide.md says where to download them):"
    )
    console.print(  # command lines to copy: never wrapped
        "  leanvoice prepare my_voice.list data/me --hubert chinese-hubert-base "
        "--bert chinese-roberta-wwm-ext-large --sovits s2G2333k.pth\n"
        "  leanvoice train gpt --data data/me --out runs/gpt --preset timbre "
        "model.gpt_init=s1v3.ckpt model.sovits_init=s2G2333k.pth\n"
        "  leanvoice train sovits --data data/me --out runs/sovits --preset timbre "
        "model.sovits_init=s2G2333k.pth model.sovits_d_init=s2D2333k.pth\n"
        "  leanvoice synthesize --gpt runs/gpt/checkpoints/best.pt "
        "--sovits runs/sovits/checkpoints/best.pt "
        "--ref ref.wav --ref-text '…' --text '…' --out out.wav --hubert … --bert …",
        soft_wrap=True,
        highlight=False,
    )
    console.print("See docs/training.md and docs/guide.md.")
    return DemoResult(out, waves, exported)


def speaker_signatures(prepared: Path) -> dict[str, object]:
    """Each demo speaker's voice fingerprint, from all of their prepared clips."""
    from leanvoice.audio.io import load_audio

    audio: dict[str, list] = {}
    rate = 0
    for clip in read_manifest(prepared):
        loaded = load_audio(prepared / clip.wav)  # prepared clips share one rate
        audio.setdefault(clip.speaker, []).append(loaded.samples)
        rate = loaded.sample_rate
    return {
        name: mel_signature(np.concatenate(parts), rate) for name, parts in sorted(audio.items())
    }


def reference_clip(prepared: Path, speaker: str, language: str) -> ClipRecord:
    """The voice an utterance copies: one of the speaker's 3-10 s clips (synthesis takes
    references of that length, as the official), in the utterance's language where they
    have one, else in another (the official WebUI also speaks across languages)."""
    clips = [
        clip
        for clip in read_manifest(prepared)
        if clip.speaker == speaker and 3.0 <= clip.duration_sec <= 10.0
    ]
    if not clips:
        raise InputError(f"{prepared}: no 3-10 s clip of {speaker}")
    same = [clip for clip in clips if clip.language == language]
    return (same or clips)[0]
