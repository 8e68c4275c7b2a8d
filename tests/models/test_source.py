"""The tiny sizes' harmonic source: its excitation, the pitch predictor, and how files
with and without it load."""

from pathlib import Path

import numpy as np
import pytest
import torch

from leanvoice.audio.pitch import estimate_f0, voiced_frames
from leanvoice.compat import export_sovits
from leanvoice.compat.official import load_official_sovits
from leanvoice.config.sizes import load_size
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.source import HarmonicSource, PitchPredictor, pitch_loss
from leanvoice.train.sovits import initial_sovits

RATE, HOP = 32000, 640


def test_the_excitation_is_periodic_at_f0_where_voiced_and_noise_elsewhere() -> None:
    source = HarmonicSource(RATE, HOP, harmonics=1).eval()
    f0 = torch.zeros(1, 1, 50)
    f0[..., 10:30] = 150.0
    f0[..., 30:] = 240.0  # a pitch change mid-clip keeps the phase continuous
    wave = source(f0, torch.Generator().manual_seed(0))[0, 0].numpy()
    assert wave.shape == (50 * HOP,)
    estimated = estimate_f0(wave, RATE, HOP)
    assert np.median(estimated[12:29]) == pytest.approx(150.0, rel=0.03)
    assert np.median(estimated[32:48]) == pytest.approx(240.0, rel=0.03)
    voiced = voiced_frames(wave, RATE, HOP)
    assert not voiced[:9].any() and voiced[11:29].all() and voiced[31:49].all()
    jumps = np.abs(np.diff(wave[29 * HOP - 50 : 30 * HOP + 50]))
    assert jumps.max() < 0.05  # no click where the pitch changes (a 240 Hz sine step ≈ 0.005)


def test_harmonics_above_the_cutoff_are_left_out() -> None:
    f0 = torch.full((1, 1, 4), 3000.0)  # at most five harmonics below 16 kHz (Nyquist)
    assert torch.equal(
        HarmonicSource(RATE, HOP, 8, max_hz=20000).eval()(f0),
        HarmonicSource(RATE, HOP, 5, max_hz=16000).eval()(f0),
    )
    four = HarmonicSource(RATE, HOP, 4, max_hz=16000).eval()(f0)
    assert not torch.equal(HarmonicSource(RATE, HOP, 5, max_hz=16000).eval()(f0), four)
    only_fundamental = HarmonicSource(RATE, HOP, 1).eval()(f0)
    assert torch.equal(HarmonicSource(RATE, HOP).eval()(f0), only_fundamental)  # 4 kHz cutoff


def test_the_pitch_predictor_round_trips_its_units_and_learns_a_track() -> None:
    torch.manual_seed(0)
    f0 = torch.tensor([[[0.0, 100.0, 200.0, 400.0, 0.0]]])
    voiced = (f0 > 0).float()
    target = (torch.log(f0.clamp(min=1)) - np.log(200.0)) / 0.5
    prediction = torch.cat([target, voiced * 20 - 10], dim=1)
    assert torch.allclose(PitchPredictor.to_hz(prediction), f0, rtol=1e-5)
    mask = torch.ones(1, 1, 5)
    assert pitch_loss(prediction, f0, mask) < 1e-3
    assert pitch_loss(-prediction, f0, mask) > 1.0

    predictor = PitchPredictor(4, 3)
    z, style = torch.randn(2, 4, 40), torch.randn(2, 3, 1)
    track = torch.where(z[:, :1] > 0, 120.0 + 60.0 * z[:, 1:2].sigmoid(), 0.0)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=1e-2)
    first = float(pitch_loss(predictor(z, style), track, torch.ones(2, 1, 40)).detach())
    for _ in range(300):
        loss = pitch_loss(predictor(z, style), track, torch.ones(2, 1, 40))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.2 * first
    agreement = (PitchPredictor.to_hz(predictor(z, style)) > 0) == (track > 0)
    assert agreement.float().mean() > 0.95


def test_only_the_tiny_size_has_it_and_synthesis_needs_no_pitch_track(tmp_path: Path) -> None:
    torch.manual_seed(0)
    v2 = SoVITSGenerator(load_size("v2").sovits, with_posterior=False)
    assert v2.pitch is None and not any(k.startswith("dec.source") for k in v2.state_dict())
    assert v2.dec.source is None
    model = SoVITSGenerator(load_size("tiny").sovits)
    assert model.pitch is not None and "dec.source_convs.0.weight" in model.state_dict()
    ssl, spec = torch.randn(1, 64, 40), torch.rand(1, 1025, 40)
    lengths, phonemes = torch.tensor([40]), torch.randint(0, 100, (1, 12))
    free = model(ssl, spec, lengths, phonemes, torch.tensor([12]))  # the predicted pitch
    out = model(ssl, spec, lengths, phonemes, torch.tensor([12]), f0=torch.full((1, 1, 40), 150.0))
    assert out["pitch"].shape == free["pitch"].shape == (1, 2, 40)
    assert not torch.equal(out["wave"], free["wave"])
    model.eval()
    codes = model.encode_semantic(ssl)
    first = model.decode(codes, phonemes, spec, generator=torch.Generator().manual_seed(3))
    again = model.decode(codes, phonemes, spec, generator=torch.Generator().manual_seed(3))
    assert first.shape == (1, 1, 40 * HOP) and torch.equal(first, again)

    export_sovits(model, tmp_path / "tiny.pth", with_posterior=True)
    loaded, _ = load_official_sovits(tmp_path / "tiny.pth")
    assert loaded.size.harmonic_source and loaded.pitch is not None


def test_a_tiny_file_from_before_the_source_gains_one_that_starts_random(tmp_path: Path) -> None:
    from dataclasses import replace

    torch.manual_seed(0)
    older = SoVITSGenerator(replace(load_size("tiny").sovits, harmonic_source=False))
    export_sovits(older, tmp_path / "older.pth", with_posterior=True)
    model, fresh = initial_sovits("tiny", tmp_path / "older.pth")
    assert model.pitch is not None  # with a new decoder: the old one learnt without a source
    assert {k.split(".")[0] for k in fresh} == {"pitch", "dec"}
    assert not torch.equal(model.dec.conv_pre.bias, older.dec.conv_pre.bias.half().float())
    kept = "ssl_proj.weight"
    assert torch.equal(model.state_dict()[kept], older.state_dict()[kept].half().float())
    v2_named, v2_fresh = initial_sovits("v2", tmp_path / "older.pth")
    assert v2_named.pitch is None and not v2_fresh  # another size's name adds nothing


def test_a_tiny_file_with_transposed_convs_gets_a_smooth_decoder_and_keeps_its_pitch(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    torch.manual_seed(0)
    older = SoVITSGenerator(replace(load_size("tiny").sovits, smooth_upsampling=False))
    export_sovits(older, tmp_path / "older.pth", with_posterior=True)
    assert not load_official_sovits(tmp_path / "older.pth")[0].size.smooth_upsampling
    model, fresh = initial_sovits("tiny", tmp_path / "older.pth")
    assert model.size.smooth_upsampling and {k.split(".")[0] for k in fresh} == {"dec"}
    kept = "pitch.out.weight"  # the pitch predictor reads the latent, which is unchanged
    assert torch.equal(model.state_dict()[kept], older.state_dict()[kept].half().float())
    export_sovits(model, tmp_path / "smooth.pth", with_posterior=True)
    assert load_official_sovits(tmp_path / "smooth.pth")[0].size.smooth_upsampling


def test_smooth_upsampling_cannot_write_detail_a_transposed_conv_can() -> None:
    """The latent frames (50 a second) brought to 500 Hz: what lies above the frame rate,
    where a low male voice's pitch is (84 Hz and up), is a small share for the smooth
    path whatever its weights, and a large one for a transposed conv."""
    from leanvoice.models.sovits.decoder import SmoothUpsample

    torch.manual_seed(0)
    frames = torch.randn(1, 8, 200)
    smooth = SmoothUpsample(8, 8, 10)
    transposed = torch.nn.ConvTranspose1d(8, 8, 16, 10, padding=3)
    with torch.no_grad():
        for layer in (smooth.conv, transposed):
            for weight in layer.parameters():
                weight.normal_()

    def above_frame_rate(x: torch.Tensor) -> float:
        power = torch.fft.rfft(x, dim=-1).abs().pow(2).sum(dim=(0, 1))
        hz = torch.fft.rfftfreq(x.shape[-1], 1 / 500)
        return float(power[hz > 60].sum() / power.sum())

    with torch.no_grad():
        assert above_frame_rate(smooth(frames)) < 0.02
        assert above_frame_rate(transposed(frames)) > 0.2
