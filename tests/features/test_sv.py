"""The v2Pro speaker embedding: Kaldi fbank, ERes2NetV2 layout, SpeakerEmbedder."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from leanvoice.audio.io import load_audio
from leanvoice.demo import demo_corpus_list
from leanvoice.errors import AudioError, InputError
from leanvoice.features.eres2net import OFFICIAL_SV, TINY_SV, ERes2NetV2
from leanvoice.features.sv import OFFICIAL_SV_DIM, SpeakerEmbedder, kaldi_fbank, sinc_resample
from leanvoice.features.tiny import TINY_SV_DIM, build_tiny_speaker_model

# sha256 of "key:shape" lines, in order, of the official
# `ERes2NetV2(baseWidth=24, scale=4, expansion=4).state_dict()` (GPT-SoVITS eres2net/)
OFFICIAL_LAYOUT_SHA256 = "95365cbcb372ec3e19956b2b57a2719ef3a8f2efa55e7ef27a39bb44a79c7785"
OFFICIAL_STATE_ENTRIES = 1001
OFFICIAL_PARAMETERS = 53_513_632


def _speech_16k(name: str = "ava_zh_01.flac") -> np.ndarray:
    return load_audio(demo_corpus_list().parent / "wavs" / name, 16000).samples


def _kaldi_fbank_reference(wave: np.ndarray, bins: int = 80) -> np.ndarray:
    """Kaldi's fbank written from its definition (feature-window.cc, mel-computations.cc)
    in float64: 400-sample frames every 160, DC removed, pre-emphasis 0.97 (the first
    sample against itself), povey window, zero-padded FFT of 512, power spectrum,
    triangular bins equally spaced on mel = 1127 ln(1 + f/700) from 20 Hz to Nyquist,
    log floored at float32 epsilon."""
    length, shift, fft = 400, 160, 512
    count = 1 + (len(wave) - length) // shift
    frames = np.stack([wave[i * shift : i * shift + length] for i in range(count)]).astype(float)
    frames -= frames.mean(axis=1, keepdims=True)
    frames = frames - 0.97 * np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    povey = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))) ** 0.85
    power = np.abs(np.fft.rfft(frames * povey, n=fft)) ** 2  # (count, 257)

    def mel(hz):
        return 1127.0 * np.log(1.0 + np.asarray(hz) / 700.0)

    low, high = mel(20.0), mel(8000.0)
    delta = (high - low) / (bins + 1)
    fft_mel = mel(np.arange(fft // 2) * 16000 / fft)  # the Nyquist bin gets no weight
    banks = np.zeros((bins, fft // 2 + 1))
    for b in range(bins):
        left, centre, right = low + b * delta, low + (b + 1) * delta, low + (b + 2) * delta
        up = (fft_mel - left) / (centre - left)
        down = (right - fft_mel) / (right - centre)
        banks[b, : fft // 2] = np.clip(np.minimum(up, down), 0.0, None)
    return np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))


def test_fbank_follows_kaldis_definition() -> None:
    wave = _speech_16k()[:16000]  # 1 s of speech: 98 frames
    ours = kaldi_fbank(wave)
    reference = _kaldi_fbank_reference(wave)
    assert ours.shape == reference.shape == (98, 80) and ours.dtype == np.float32
    # float32 rounding; the largest differences are in near-silent bins (log ≈ -15)
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    assert np.abs(ours - reference).mean() < 5e-5
    assert reference.max() - reference.min() > 10  # real speech, not a flat spectrum


def test_fbank_is_not_scaled_or_mean_normalised() -> None:
    """The official passes [-1, 1] samples and subtracts no mean: doubling the signal
    adds log(4) to every bin above the floor."""
    wave = _speech_16k()[:8000]
    single, double = kaldi_fbank(wave), kaldi_fbank(2 * wave)
    above_floor = single > np.log(np.finfo(np.float32).eps) + 2
    assert above_floor.mean() > 0.99
    np.testing.assert_allclose(double[above_floor], single[above_floor] + np.log(4), atol=1e-3)


def test_resampling_is_torchaudios_sinc_method() -> None:
    """The official resamples 32 → 16 kHz with torchaudio's `Resample` defaults."""
    impulse = np.zeros(64, dtype=np.float32)
    impulse[31] = 1.0
    response = sinc_resample(impulse, 32000, 16000)
    assert response.shape == (32,)
    # torchaudio.transforms.Resample(32000, 16000)(impulse)[12:20], torchaudio 2.x
    official = [-0.01715103, 0.04034645, -0.09075743, 0.31295553]
    official += official[::-1]
    np.testing.assert_allclose(response[12:20], official, atol=1e-7)
    # a 1 kHz tone passes unchanged (away from the edges); 44.1 kHz input works too
    time_32k, time_16k = np.arange(32000) / 32000, np.arange(16000) / 16000
    tone = sinc_resample(np.sin(2 * np.pi * 1000 * time_32k), 32000, 16000)
    np.testing.assert_allclose(
        tone[200:-200], np.sin(2 * np.pi * 1000 * time_16k)[200:-200], atol=2e-3
    )
    assert sinc_resample(np.zeros(44100, dtype=np.float32), 44100, 32000).shape == (32000,)


def test_network_has_the_official_state_dict_layout() -> None:
    with torch.device("meta"):
        state = ERes2NetV2(OFFICIAL_SV).state_dict()
    layout = "\n".join(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    assert len(state) == OFFICIAL_STATE_ENTRIES
    assert hashlib.sha256(layout.encode()).hexdigest() == OFFICIAL_LAYOUT_SHA256
    assert sum(v.numel() for k, v in state.items() if k.endswith(("weight", "bias"))) == (
        OFFICIAL_PARAMETERS
    )
    assert OFFICIAL_SV.pooled_dim == OFFICIAL_SV_DIM == 20480


def _random_state(layout: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Random weights of `layout`'s shapes, with non-trivial BatchNorm statistics (the
    model runs in eval mode, so they matter)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, like in layout.items():
        shape = like.shape
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) * 1.5 + 0.5
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = torch.randn(shape, generator=g) * 0.1
        elif len(shape) == 1:  # a BatchNorm scale
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:  # conv / linear: unit gain
            state[key] = torch.randn(shape, generator=g) / shape[1:].numel() ** 0.5
    return state


def test_official_size_state_dict_loads_strictly_and_gives_20480(tmp_path: Path) -> None:
    with torch.device("meta"):
        layout = ERes2NetV2(OFFICIAL_SV).state_dict()
    state = _random_state(layout, seed=0)
    torch.save(state, tmp_path / "pretrained_eres2netv2w24s4ep4.ckpt")
    embedder = SpeakerEmbedder(tmp_path / "pretrained_eres2netv2w24s4ep4.ckpt")
    assert embedder.config == OFFICIAL_SV and embedder.dim == 20480
    loaded = embedder.model.state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    fused_maps = []
    embedder.model.fuse34.register_forward_hook(lambda m, i, out: fused_maps.append(out))
    embedding = embedder.extract(_speech_16k()[:8000], 16000)  # 0.5 s
    assert embedding.shape == (20480,) and embedding.dtype == np.float32
    # the official forward3, spelled out: (B, C, F', T') → (B, C·F', T') → mean over T'
    (fused,) = fused_maps
    assert fused.shape == (1, 2048, 10, 6)  # 48 frames / 8
    expected = fused.reshape(1, 20480, 6).mean(-1)[0].numpy()
    np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-6)
    assert expected.std() > 0.1  # not a dead network


@pytest.fixture
def tiny_embedder(tmp_path: Path) -> SpeakerEmbedder:
    return SpeakerEmbedder(build_tiny_speaker_model(tmp_path / "sv.ckpt"))


def test_tiny_embedding_is_deterministic_and_tells_clips_apart(tiny_embedder) -> None:
    assert tiny_embedder.config == TINY_SV and tiny_embedder.dim == TINY_SV_DIM == 64
    wav32 = load_audio(demo_corpus_list().parent / "wavs" / "ava_zh_01.flac", 32000)
    first = tiny_embedder.extract(wav32.samples, 32000)
    assert first.shape == (64,) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, tiny_embedder.extract(wav32.samples, 32000))
    # resampled inside: the same speech given at 16 kHz gives nearly the same embedding
    at_16k = tiny_embedder.extract(_speech_16k(), 16000)
    np.testing.assert_allclose(at_16k, first, rtol=1e-2, atol=1e-3)
    other = tiny_embedder.extract(_speech_16k("ben_en_02.flac"), 16000)
    assert np.abs(other - first).max() > 1e-3


def test_batch_of_equal_length_clips_equals_one_at_a_time(tiny_embedder) -> None:
    wavs = demo_corpus_list().parent / "wavs"
    waves = [
        load_audio(wavs / name, 32000).samples[:16000]
        for name in ("ava_zh_01.flac", "ben_en_02.flac")
    ]
    fbanks = [kaldi_fbank(sinc_resample(w, 32000, 16000), TINY_SV.feat_dim) for w in waves]
    batch = tiny_embedder.embed_fbanks(torch.from_numpy(np.stack(fbanks))).numpy()
    for row, wave in zip(batch, waves, strict=True):
        np.testing.assert_allclose(row, tiny_embedder.extract(wave, 32000), rtol=1e-5, atol=1e-6)


def test_too_short_audio_is_an_audio_error(tiny_embedder) -> None:
    with pytest.raises(AudioError, match="too short"):
        tiny_embedder.extract(np.zeros(300, dtype=np.float32), 16000)


def test_missing_corrupt_or_foreign_checkpoint_is_one_line_naming_the_file(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "pretrained_eres2netv2w24s4ep4.ckpt"
    with pytest.raises(InputError, match=str(missing)):
        SpeakerEmbedder(missing)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match=str(corrupt)):
        SpeakerEmbedder(corrupt)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"conv1.weight": torch.zeros(8, 1, 3, 3)}, foreign)
    with pytest.raises(InputError, match=f"{foreign}: not an ERes2NetV2") as error:
        SpeakerEmbedder(foreign)
    assert "\n" not in str(error.value)
