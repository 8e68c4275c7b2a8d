"""A v3 voice speaks from the command line through BigVGAN at 24 kHz (tiny random GPT and
v3 SoVITS files in the official layout, the tiny BigVGAN folder that `prepare
--tiny-features` writes); a vocoder of the other version is refused; the flow-matching
sampler's steps and guidance (every CFM version) reach it."""

import json
import subprocess
import sys

import pytest
import soundfile as sf
import torch

from leanvoice.compat import export_cfm_full, export_gpt
from leanvoice.config.sizes import load_size
from leanvoice.errors import InputError
from leanvoice.infer.cfm_voice import CFMVoice
from leanvoice.models.cfm import (
    BigVGAN,
    CFMSoVITS,
    MelVocoder,
    bigvgan_size,
    cfm_size,
    vocoder_size,
)
from leanvoice.models.gpt import SemanticGPT
from tests.train.test_resume import ENV


@pytest.fixture(scope="module")
def v3_voice(featured_demo, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("v3_voice")
    torch.manual_seed(0)
    export_gpt(SemanticGPT(load_size("tiny").gpt), root / "gpt.ckpt")
    export_cfm_full(CFMSoVITS(cfm_size("tiny", "v3")), root / "v3.pth")  # header 02: v3
    clips = [json.loads(x) for x in (featured_demo / "manifest.jsonl").read_text().splitlines()]
    reference = next(c for c in clips if c["language"] == "zh" and c["duration_sec"] >= 3)
    return {
        "base": [
            *[sys.executable, "-m", "leanvoice", "synthesize", "--gpt", str(root / "gpt.ckpt")],
            *["--sovits", str(root / "v3.pth"), "--ref", str(featured_demo / reference["wav"])],
            *["--ref-text", reference["text"], "--text", "你好。"],
        ],
        "models": featured_demo / "tiny_models",
    }


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=300)


def test_a_tiny_v3_voice_speaks_at_24_khz_through_the_tiny_bigvgan(v3_voice, tmp_path) -> None:
    models = v3_voice["models"]
    assert (models / "bigvgan" / "config.json").is_file()  # written by the tiny features
    wav = tmp_path / "v3.wav"
    done = _run([*v3_voice["base"], "--out", str(wav), "--feature-models", str(models)])
    assert done.returncode == 0, done.stderr[-2000:]
    samples, rate = sf.read(wav)
    assert rate == 24000 and len(samples) > 0.2 * rate


@pytest.mark.parametrize(("version", "wanted"), [("v3", "bigvgan_v2"), ("v4", "vocoder.pth")])
def test_a_vocoder_of_the_other_version_is_refused_with_the_right_one(version, wanted) -> None:
    torch.manual_seed(0)
    other = MelVocoder(vocoder_size("tiny")) if version == "v3" else BigVGAN(bigvgan_size("tiny"))
    with pytest.raises(InputError, match=f"a {version} SoVITS makes 100 mel bins at") as error:
        CFMVoice(CFMSoVITS(cfm_size("tiny", version)), other, torch.device("cpu"))
    assert wanted in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("version", "steps", "guidance", "calls"),
    [("v3", 0, None, 32), ("v5turbo", 0, None, 4), ("v5dev", 3, None, 6), ("v4", 2, 0.5, 4)],
)
def test_flow_steps_and_guidance_reach_the_sampler(version, steps, guidance, calls):
    """The version's defaults (v3 32 steps; v5turbo 4; v5dev guided, two DiT runs a
    step), or what was asked for: counted as the DiT's runs for one short chunk."""
    torch.manual_seed(0)
    model = CFMSoVITS(cfm_size("tiny", version))
    vocoder = BigVGAN(bigvgan_size("tiny")) if version == "v3" else MelVocoder(vocoder_size("tiny"))
    voice = CFMVoice(model, vocoder, torch.device("cpu"))
    runs = []
    model.cfm.estimator.register_forward_hook(lambda *_: runs.append(1))
    reference = voice.reference(
        torch.randn(3 * 32000).numpy() * 0.1, torch.randint(0, 1024, (1, 75)), [5, 6, 7]
    )
    voice.speak(
        reference,
        torch.randint(0, 1024, (1, 10)),
        [8, 9],
        speed=1.0,
        steps=steps,
        guidance=guidance,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(runs) == calls


def test_guidance_out_of_range_is_refused_in_one_line(v3_voice, tmp_path) -> None:
    done = _run([*v3_voice["base"], "--out", str(tmp_path / "x.wav"), "--guidance", "3",
                 "--feature-models", str(v3_voice["models"])])  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "guidance 3.0: give a value from 0 to 2" in done.stderr + done.stdout


def test_sampler_options_for_a_v2_voice_are_refused_in_one_line(v3_voice, tmp_path) -> None:
    """A v2 SoVITS has no flow-matching sampler: its steps and guidance would be ignored."""
    base = list(v3_voice["base"])
    base[base.index("--sovits") + 1] = str(v3_voice["models"] / "sovits.pth")
    done = _run([*base, "--out", str(tmp_path / "x.wav"), "--flow-steps", "4",
                 "--feature-models", str(v3_voice["models"])])  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "set the v3/v4/v5 sampler; this SoVITS is v2" in done.stderr + done.stdout
