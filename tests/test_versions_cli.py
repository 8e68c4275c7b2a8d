"""v2Pro and v2ProPlus from the command line, with tiny models: prepare with the speaker
embedding → train both stages → synthesize → export with the version's header."""

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.tiny import TINY
from tests.train.test_resume import ENV


def _leanvoice(*args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "leanvoice", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert run.returncode == 0, (args, run.stdout[-1500:], run.stderr[-1500:])
    return run.stdout


def _speak(data: Path, gpt: Path, sovits: Path, wav: Path) -> tuple:
    """`synthesize` a short sentence in the voice of the data's first clip, with its
    tiny models; → (samples, sample rate) of what it wrote."""
    reference = sorted((data / "wav32k").glob("*.wav"))[0]
    _leanvoice(
        *["synthesize", "--gpt", str(gpt), "--sovits", str(sovits)],
        *["--ref", str(reference), "--ref-text", "今天天气很好。", "--text", "你好。"],
        *["--out", str(wav), "--feature-models", str(data / "tiny_models")],
    )
    return sf.read(wav)


@pytest.fixture(scope="module")
def pro_data(tmp_path_factory) -> Path:
    """Six demo clips of each speaker, prepared with tiny features and `--sv tiny`."""
    from leanvoice.demo import demo_corpus_list

    corpus = demo_corpus_list()
    lines = corpus.read_text(encoding="utf-8").splitlines()
    picked = [line for line in lines if "|ava|" in line][:6]
    picked += [line for line in lines if "|ben|" in line][:6]
    listing = tmp_path_factory.mktemp("pro") / "pro.list"
    listing.write_text(
        "".join(
            f"{corpus.parent / line.split('|', 1)[0]}|{line.split('|', 1)[1]}\n" for line in picked
        ),
        encoding="utf-8",
    )
    data = listing.parent / "data"
    out = _leanvoice("prepare", str(listing), str(data), "--tiny-features", "--sv", "tiny")
    assert "sv/" in out
    return data


@pytest.fixture(scope="module")
def pro_gpt(pro_data) -> Path:
    """The GPT is the same model in every version: trained once for these tests."""
    run = pro_data.parent / "gpt"
    _leanvoice("train", "gpt", "--data", str(pro_data), "--out", str(run), *TINY,
               "train.max_steps=2", "train.save_every=2")  # fmt: skip
    return run / "checkpoints" / "best.pt"


@pytest.mark.slow
@pytest.mark.parametrize(("version", "header"), [("v2Pro", b"05"), ("v2ProPlus", b"06")])
def test_a_tiny_pro_voice_goes_from_prepare_to_export(pro_data, pro_gpt, tmp_path, version, header):
    runs = tmp_path / "runs"
    common = [*TINY, f"model.version={version}", "train.max_steps=2", "train.save_every=2"]
    _leanvoice("train", "sovits", "--data", str(pro_data), "--out", str(runs / "s"), *common)
    best = runs / "s" / "checkpoints" / "best.pt"
    samples, rate = _speak(pro_data, pro_gpt, best, tmp_path / "voice.wav")
    assert rate == 32000 and len(samples) > 0.2 * rate
    exported = tmp_path / "voice.pth"
    said = _leanvoice("export", str(runs / "s" / "checkpoints" / "best.pt"), str(exported))
    assert f"official {version} layout" in said
    assert exported.read_bytes()[:2] == header  # how the official WebUI tells the version
    from leanvoice.compat.official import load_official_sovits

    assert load_official_sovits(exported)[0].size.version == version


def test_a_pro_run_on_data_without_speaker_embeddings_says_how_to_add_them(
    featured_demo, tmp_path
) -> None:
    from leanvoice.config import load_config
    from leanvoice.errors import ConfigError
    from leanvoice.train.sovits import SoVITSTrainer

    cfg = load_config(overrides=[*TINY, "model.version=v2Pro", "train.max_steps=1"])
    with pytest.raises(ConfigError, match=r"needs each clip's speaker embedding.*--sv"):
        SoVITSTrainer(cfg, featured_demo, tmp_path / "run").train()


@pytest.mark.slow
def test_a_tiny_v4_voice_trains_full_and_with_the_official_lora_recipe_and_speaks(
    pro_data, pro_gpt, tmp_path
):
    """A full fine-tune, and LoRA on the DiT with bridge and wns1 in full; the LoRA voice
    speaks through the v4 vocoder at 48 kHz."""
    runs = tmp_path / "runs"
    common = [*TINY, "model.version=v4", "train.max_steps=2", "train.save_every=2"]
    lora = ["memory.lora.rank=4", "memory.lora.alpha=4"]
    for name, extra in (("full", []), ("lora", lora)):
        out = str(runs / name)
        _leanvoice("train", "sovits", "--data", str(pro_data), "--out", out, *common, *extra)
    best = runs / "lora" / "checkpoints" / "best.pt"
    samples, rate = _speak(pro_data, pro_gpt, best, tmp_path / "voice.wav")
    assert rate == 48000 and len(samples) > 0.2 * rate


@pytest.mark.slow
def test_a_tiny_v5_voice_trains_with_the_official_lora_recipe_speaks_and_exports(
    pro_data, pro_gpt, tmp_path
):
    """v5turbo (4 sampler steps): LoRA on the DiT, synthesis through the 48 kHz vocoder,
    and the official LoRA file with the v5turbo header 08."""
    run = tmp_path / "run"
    _leanvoice("train", "sovits", "--data", str(pro_data), "--out", str(run), *TINY,
               "model.version=v5turbo", "train.max_steps=2", "train.save_every=2",
               "memory.lora.rank=4", "memory.lora.alpha=4")  # fmt: skip
    checkpoint = run / "checkpoints" / "best.pt"
    samples, rate = _speak(pro_data, pro_gpt, checkpoint, tmp_path / "voice.wav")
    assert rate == 48000 and len(samples) > 0.2 * rate
    exported = tmp_path / "voice.pth"
    said = _leanvoice("export", str(checkpoint), str(exported))
    assert "official v5turbo LoRA file (rank 4, header 08)" in said
    assert exported.read_bytes()[:2] == b"08"
