"""`leanvoice demo`: the whole job on the shipped corpus, with what exists so far."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from leanvoice.config import load_config
from leanvoice.data.prepare import PrepareResult, prepare_dataset

NEXT_STAGES = (
    "plan (memory model for your card)",
    "train GPT (stage 1)",
    "train SoVITS (stage 2)",
    "synthesize a Mandarin and an English sentence",
    "export to the official formats",
)


def demo_corpus_list() -> Path:
    """The shipped demo corpus: 40 clips, two synthetic speakers, Mandarin and English."""
    return Path(str(resources.files("leanvoice") / "demo_data" / "demo.list"))


def run_demo(out: Path, console: Console, *, quick: bool = False) -> PrepareResult:
    cfg = load_config(overrides=["model.size=tiny"])
    console.rule("[bold]LeanVoice demo")
    console.print(f"corpus: {demo_corpus_list()}")
    console.print(f"output: {out}")
    console.rule("1. prepare")
    result = prepare_dataset(demo_corpus_list(), out / "prepared", cfg)
    report = result.report
    console.print(
        f"{report['clips']} clips, {report['seconds']:.1f} s, speakers "
        f"{report['clips_per_speaker']}, languages {report['clips_per_language']}; "
        f"{result.processed_now} processed now, {len(report['skipped'])} skipped"
    )
    console.rule("2. features (tiny built-in HuBERT, BERT and SoVITS quantizer)")
    from leanvoice.data.features_step import run_feature_step

    features = run_feature_step(result.out, tiny=True)
    console.print(f"{features.clips} clips with SSL, BERT and semantic features")
    console.print(f"manifest: {result.out / 'manifest.jsonl'}")
    console.rule("next")
    console.print("Not built yet in this version (coming with the next releases):")
    for stage in NEXT_STAGES:
        console.print(f"  - {stage}")
    return result
