"""Synthesis from trained, exported, imported and official-layout files (tiny, CPU)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from leanvoice.audio.io import write_wav
from leanvoice.compat.official import export_gpt, export_sovits, load_official_sovits
from leanvoice.config import load_config
from leanvoice.config.sizes import load_size
from leanvoice.errors import AudioError, InputError, TextError
from leanvoice.infer import SynthesisOptions, load_synthesizer
from leanvoice.infer.export import export_checkpoint, export_sovits_base, import_official
from leanvoice.models.gpt import SemanticGPT
from leanvoice.train import train_stage
from leanvoice.train.checkpoint import list_checkpoints
from tests.tiny import TINY


@pytest.fixture(scope="module")
def trained(featured_demo, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    for stage, steps in (("gpt", 4), ("sovits", 2)):
        cfg = load_config(
            overrides=[*TINY, f"train.max_steps={steps}", f"train.save_every={steps}"]
        )
        train_stage(stage, featured_demo, root / stage, cfg)
    gpt, sovits = (list_checkpoints(root / s)[-1] for s in ("gpt", "sovits"))
    clips = [json.loads(x) for x in (featured_demo / "manifest.jsonl").read_text().splitlines()]
    reference = next(c for c in clips if c["language"] == "zh" and c["duration_sec"] >= 3)
    return {
        "gpt": gpt,
        "sovits": sovits,
        "models": featured_demo / "tiny_models",
        "ref": featured_demo / reference["wav"],
        "ref_text": reference["text"],
        "root": root,
    }


def _speak(gpt, sovits, trained, text="今天天气很好。", **options) -> np.ndarray:
    synth = load_synthesizer(gpt, sovits, feature_models=trained["models"])
    return synth.synthesize(trained["ref"], trained["ref_text"], text, SynthesisOptions(**options))


def test_trained_checkpoints_speak_and_longer_text_gives_longer_audio(trained) -> None:
    short = _speak(trained["gpt"], trained["sovits"], trained, "你好。")
    long = _speak(
        trained["gpt"],
        trained["sovits"],
        trained,
        "今天天气很好，我们一起去公园散步吧。然后去看电影，好不好？",
    )
    assert len(long) > len(short) > 0.2 * 32000
    assert np.sqrt(np.mean(long**2)) > 1e-5  # not silence (barely trained: quiet)
    assert np.isfinite(long).all()
    assert long[0] == 0 and long[-1] == 0  # faded: no click at either end


def test_export_import_synthesize_gives_the_same_waveform(trained) -> None:
    root = trained["root"]
    export_checkpoint(trained["gpt"], root / "gpt.ckpt")
    export_checkpoint(trained["sovits"], root / "sovits.pth")
    assert (root / "sovits.pth").read_bytes()[:2] == b"01"  # official v2 header
    import_official(root / "gpt.ckpt", root / "gpt_imported.pt")
    import_official(root / "sovits.pth", root / "sovits_imported.pt")
    exported = _speak(root / "gpt.ckpt", root / "sovits.pth", trained, seed=7)
    imported = _speak(root / "gpt_imported.pt", root / "sovits_imported.pt", trained, seed=7)
    np.testing.assert_array_equal(exported, imported)
    again = export_checkpoint(root / "gpt_imported.pt", root / "gpt_again.ckpt")
    assert "official layout" in again


def test_a_sovits_base_pair_starts_fine_tuning_where_training_ended(trained) -> None:
    """`export_sovits_base` writes s2G with its posterior encoder and s2D, as official
    pretrained bases are; `model.sovits_init` + `model.sovits_d_init` start from both."""
    import torch

    from leanvoice.models.sovits.discriminator import MultiPeriodDiscriminator
    from leanvoice.train.checkpoint import read_checkpoint_file

    root = trained["root"]
    said = export_sovits_base(trained["sovits"], root / "s2G.pth", root / "s2D.pth")
    assert "s2G with enc_q" in said
    generator, _ = load_official_sovits(root / "s2G.pth")
    assert generator.enc_q is not None
    cfg = load_config(
        overrides=[
            *TINY,
            "train.max_steps=1",
            "train.lr=1e-12",  # a step that changes nothing visible: saved is as loaded
            f"model.sovits_init={root / 's2G.pth'}",
            f"model.sovits_d_init={root / 's2D.pth'}",
        ]
    )
    train_stage("sovits", trained["models"].parent, root / "tuned", cfg)
    before = read_checkpoint_file(trained["sovits"]).networks["discriminator"].weights
    after = read_checkpoint_file(list_checkpoints(root / "tuned")[-1])
    for key, value in after.networks["discriminator"].weights.items():
        torch.testing.assert_close(value, before[key])
    tuned_posterior = {k: v for k, v in after.weights.items() if k.startswith("enc_q.")}
    trained_weights = read_checkpoint_file(trained["sovits"]).weights
    for key, value in tuned_posterior.items():  # fp16-rounded by the official format
        torch.testing.assert_close(value, trained_weights[key], atol=2e-3, rtol=2e-3)
    with pytest.raises(InputError, match="does not match this model size"):
        from leanvoice.compat.official import load_discriminator_weights

        load_discriminator_weights(root / "s2D.pth", MultiPeriodDiscriminator(1))


def test_official_layout_files_with_random_weights_synthesize(trained, tmp_path) -> None:
    """Random tiny weights saved in the official layout (the dicts the official code
    writes: `weight` + `config` + `info`, fp16, SoVITS with the v2 header)."""
    from leanvoice.models.sovits import SoVITSGenerator

    sizes = load_size("tiny")
    export_gpt(SemanticGPT(sizes.gpt), tmp_path / "official.ckpt")
    export_sovits(SoVITSGenerator(sizes.sovits), tmp_path / "official.pth")
    samples = _speak(
        tmp_path / "official.ckpt", tmp_path / "official.pth", trained, "Hello.", language="en"
    )
    assert len(samples) > 0 and np.isfinite(samples).all()


def test_bad_inputs_are_one_line_errors(trained, tmp_path) -> None:
    synth = load_synthesizer(trained["gpt"], trained["sovits"], feature_models=trained["models"])
    options = SynthesisOptions()
    cases = []
    with pytest.raises(AudioError, match="not found") as missing:
        synth.synthesize(tmp_path / "nope.wav", "你好。", "你好。", options)
    cases.append(missing)
    short = tmp_path / "short.wav"
    write_wav(short, 0.1 * np.sin(np.arange(32000) / 10.0), 32000)
    with pytest.raises(InputError, match=r"1\.0 s; use a clip of 3-10 s") as too_short:
        synth.synthesize(short, "你好。", "你好。", options)
    cases.append(too_short)
    long = tmp_path / "long.wav"
    write_wav(long, 0.1 * np.sin(np.arange(32000 * 12) / 10.0), 32000)
    with pytest.raises(InputError, match=r"12\.0 s") as too_long:
        synth.synthesize(long, "你好。", "你好。", options)
    cases.append(too_long)
    with pytest.raises(TextError, match="empty") as empty:
        synth.synthesize(trained["ref"], trained["ref_text"], "  ", options)
    cases.append(empty)
    with pytest.raises(TextError, match="unknown language 'fr'") as language:
        synth.synthesize(
            trained["ref"], trained["ref_text"], "bonjour.", SynthesisOptions(language="fr")
        )
    cases.append(language)
    with pytest.raises(InputError, match="SoVITS \\(stage 2\\) checkpoint; a GPT") as stage:
        load_synthesizer(trained["sovits"], trained["sovits"], feature_models=trained["models"])
    cases.append(stage)
    assert all("\n" not in str(case.value) for case in cases)


def test_cli_synthesize_writes_flac_and_reports_errors_in_one_line(trained, tmp_path) -> None:
    base = [
        sys.executable,
        "-m",
        "leanvoice",
        "synthesize",
        "--gpt",
        str(trained["gpt"]),
        "--sovits",
        str(trained["sovits"]),
        "--ref-text",
        trained["ref_text"],
        "--feature-models",
        str(trained["models"]),
    ]
    out = tmp_path / "hello.flac"
    ok = subprocess.run(
        [*base, "--ref", str(trained["ref"]), "--text", "你好，世界。", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    info = sf.info(str(out))
    assert info.format == "FLAC" and info.samplerate == 32000 and info.channels == 1
    bad = subprocess.run(
        [
            *base,
            "--ref",
            str(tmp_path / "missing.wav"),
            "--text",
            "你好。",
            "--out",
            str(tmp_path / "x.wav"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing.wav: audio file not found" in errors[0]


def gpt_weight(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=True)["weight"]


def test_official_v2_files_from_reference_shapes_synthesize(trained, tmp_path) -> None:
    """v2-size GPT and SoVITS with random weights, saved the way the official code saves
    them (GPT: fp16 `weight`/`config`/`info` dict; SoVITS: config pickled as
    `utils.HParams`), every key and shape checked against reference/, spoken through
    official-width (shallow) HuBERT and BERT."""
    from leanvoice.compat.keys import sovits_to_official
    from leanvoice.compat.official import gpt_official_config, sovits_official_config
    from leanvoice.features.tiny import build_tiny_bert, build_tiny_hubert
    from leanvoice.models.sovits import SoVITSGenerator
    from tests.compat.test_official import _save_like_official

    reference = Path(__file__).parents[1] / "fixtures" / "reference"
    sizes = load_size("v2")
    gpt, sovits = SemanticGPT(sizes.gpt), SoVITSGenerator(sizes.sovits)
    export_gpt(gpt, tmp_path / "s1.ckpt")  # the official GPT layout
    weight = {k: v.half() for k, v in sovits_to_official(sovits.state_dict()).items()}
    _save_like_official(tmp_path / "s2G.pth", weight, sovits_official_config(sizes.sovits))
    for name, saved in (
        ("s1_v2_keys.json", gpt_weight(tmp_path / "s1.ckpt")),
        ("s2G_v2_keys.json", weight),
    ):
        expected = {key: shape for key, shape, _ in json.loads((reference / name).read_text())}
        assert {k: list(v.shape) for k, v in saved.items()} == expected, name
    assert gpt_official_config(sizes.gpt)["model"]["n_layer"] == 24
    models = tmp_path / "features"
    build_tiny_hubert(models / "hubert", hidden_size=768)
    build_tiny_bert(models / "bert", "今天天气很好你们我", hidden_size=1024)
    synth = load_synthesizer(tmp_path / "s1.ckpt", tmp_path / "s2G.pth", feature_models=models)
    samples = synth.synthesize(
        trained["ref"], "今天天气很好。", "你好。", SynthesisOptions(max_codes_per_phoneme=4.0)
    )
    assert len(samples) > 0 and np.isfinite(samples).all()


def _forced_eos(synth, logit: float) -> None:
    """Give the GPT's EOS a fixed logit whatever the hidden state (others unchanged)."""
    import torch

    old = synth.gpt.ar_predict_layer
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        head.bias[synth.gpt.eos_id] = logit
    synth.gpt.ar_predict_layer = head


def test_length_control_bounds_each_sentence_by_the_reference_rate(trained) -> None:
    synth = load_synthesizer(trained["gpt"], trained["sovits"], feature_models=trained["models"])
    text = "今天天气很好，我们一起去公园散步吧。"
    speak = lambda **o: synth.synthesize(  # noqa: E731
        trained["ref"], trained["ref_text"], text, SynthesisOptions(**o)
    )
    _forced_eos(synth, 50.0)  # EOS wins whenever it is allowed
    shortest = speak()
    assert len(speak(min_length=0)) == 1280  # without the minimum: one code, then EOS
    _forced_eos(synth, -50.0)  # EOS never wins: only the maximum stops a sentence
    longest = speak()
    assert len(shortest) > 0.5 * 32000  # a sentence of ~40 phonemes, not a blip
    assert len(longest) / len(shortest) == pytest.approx(1.8 / 0.6, rel=0.1)
    assert len(speak(max_length=0.9)) == pytest.approx(len(longest) / 2, rel=0.1)


def test_silent_reference_is_refused_and_progress_comes_per_sentence(trained, tmp_path) -> None:
    synth = load_synthesizer(trained["gpt"], trained["sovits"], feature_models=trained["models"])
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(4 * 32000, dtype=np.float32), 32000)
    with pytest.raises(InputError, match="silent"):
        synth.synthesize(silent, "你好。", "今天天气很好。", SynthesisOptions())
    seen = []
    audio = synth.synthesize(
        trained["ref"],
        trained["ref_text"],
        "今天天气很好。我们一起去公园散步吧。",
        SynthesisOptions(),
        on_sentence=lambda done, total, so_far: seen.append((done, total, len(so_far))),
    )
    assert [(d, t) for d, t, _ in seen] == [(1, 2), (2, 2)]
    assert seen[0][2] < seen[1][2] == len(audio)
