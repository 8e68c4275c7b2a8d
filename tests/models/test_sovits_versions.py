"""SoVITS v2Pro and v2ProPlus: variants of a size, with a speaker-verification input."""

import dataclasses

import pytest
import torch

from leanvoice.config.sizes import SOVITS_VERSIONS, load_size
from leanvoice.errors import ConfigError
from leanvoice.models.sovits import MultiPeriodDiscriminator, SoVITSGenerator

PRO_VERSIONS = SOVITS_VERSIONS[1:]
PRO_PERIODS = [2, 3, 5, 7, 11, 17, 23]
RATE_FRAMES = 50  # spectrogram frames per second (32 kHz, hop 640)


def _changes(name: str, version: str) -> dict:
    """The fields `version` changes in size `name`, with their new values."""
    base = dataclasses.asdict(load_size(name).sovits)
    variant = dataclasses.asdict(load_size(name, version).sovits)
    return {key: value for key, value in variant.items() if base[key] != value}


def test_official_pro_sizes_change_exactly_what_the_official_configs_change() -> None:
    pro = {
        "version": "v2Pro",
        "gin_channels": 1024,
        "dropout": 0.0,  # configs/s2v2Pro.json p_dropout
        "sv_dim": 20480,
        "mrte_channels": 512,
        "discriminator_periods": PRO_PERIODS,
    }
    assert _changes("v2", "v2Pro") == pro
    assert _changes("v2", "v2ProPlus") == {
        **pro,
        "version": "v2ProPlus",
        "upsample_initial_channel": 768,
        "upsample_kernel_sizes": [20, 16, 8, 2, 2],
    }
    assert load_size("v2").sovits.version == "v2" and load_size("v2").sovits.sv_dim == 0


@pytest.mark.parametrize("version", PRO_VERSIONS)
def test_tiny_pro_changes_the_same_fields_as_the_official_size(version: str) -> None:
    assert _changes("tiny", version).keys() == _changes("v2", version).keys()
    assert load_size("tiny", version).gpt == load_size("tiny").gpt  # the GPT is shared


def test_an_unknown_version_is_a_config_error_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="v2Pro, v2ProPlus"):
        load_size("tiny", "v2pro")


def test_official_pro_sizes_have_the_official_parameter_counts() -> None:
    counts = {}
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        for version in PRO_VERSIONS:
            size = load_size("v2", version).sovits
            counts[version] = sum(p.numel() for p in SoVITSGenerator(size).parameters())
        disc = MultiPeriodDiscriminator.for_size(load_size("v2", "v2Pro").sovits)
    assert counts == {"v2Pro": 79_428_096, "v2ProPlus": 98_338_432}
    assert sum(p.numel() for p in disc.parameters()) == 63_189_440


def _tiny(version: str) -> SoVITSGenerator:
    torch.manual_seed(0)
    return SoVITSGenerator(load_size("tiny", version).sovits)


def _batch(size, frames: int = 40, generator: torch.Generator | None = None) -> dict:
    g = generator or torch.Generator().manual_seed(1)
    return {
        "ssl": torch.randn(2, size.ssl_dim, frames, generator=g),
        "spec": torch.rand(2, size.n_fft // 2 + 1, frames, generator=g),
        "spec_lens": torch.tensor([frames, frames - 6]),
        "phoneme_ids": torch.randint(0, 700, (2, 12), generator=g),
        "phoneme_lens": torch.tensor([12, 9]),
    }


@pytest.mark.parametrize("version", PRO_VERSIONS)
def test_tiny_pro_has_the_official_layers_and_trains_with_an_embedding(version: str) -> None:
    model = _tiny(version)
    size = model.size
    state = model.state_dict()
    assert state["sv_emb.weight"].shape == (size.gin_channels, size.sv_dim)
    assert state["ge_to512.weight"].shape == (size.mrte_channels, size.gin_channels)
    assert state["prelu.weight"].shape == (size.gin_channels,)
    assert state["enc_p.mrte.c_pre.weight"].shape[0] == size.mrte_channels
    assert state["dec.cond.weight"].shape[:2] == (size.upsample_initial_channel, size.gin_channels)
    sv = torch.randn(2, size.sv_dim)
    out = model(**_batch(size), sv=sv)
    assert out["wave"].shape == (2, 1, size.segment_samples)
    assert out["m_p"].shape == out["z_p"].shape == (2, size.inter_channels, 40)
    out["wave"].abs().mean().backward()
    assert model.sv_emb.weight.grad.abs().sum() > 0  # the embedding is trained through


@pytest.mark.parametrize("version", PRO_VERSIONS)
def test_tiny_pro_decodes_with_its_embedding(version: str) -> None:
    model = _tiny(version).eval()
    g = torch.Generator().manual_seed(2)
    codes = torch.randint(0, 1024, (1, 15), generator=g)
    phonemes = torch.randint(0, 700, (1, 9), generator=g)
    spec = torch.rand(1, 1025, 60, generator=g)
    sv_a, sv_b = torch.randn(2, 1, model.size.sv_dim, generator=g)
    wave = model.decode(codes, phonemes, spec, sv_emb=sv_a)
    assert wave.shape == (1, 1, 15 * 1280)
    assert not torch.allclose(wave, model.decode(codes, phonemes, spec, sv_emb=sv_b))
    as_list = model.decode(codes, phonemes, [spec], sv_emb=[sv_a])  # the WebUI's call
    assert torch.equal(as_list, wave)
    both = model.decode(codes, phonemes, [spec, spec], sv_emb=[sv_a, sv_b])
    assert both.shape == wave.shape and not torch.allclose(both, wave)


@pytest.mark.parametrize("version", PRO_VERSIONS)
def test_a_pro_model_without_its_embedding_says_so(version: str) -> None:
    model = _tiny(version)
    size = model.size
    with pytest.raises(ValueError, match=rf"{version}.*\(B, {size.sv_dim}\)"):
        model(**_batch(size))
    codes, phonemes = torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="speaker-verification embedding"):
        model.decode(codes, phonemes, torch.rand(1, 1025, 20))


def test_v2_is_unchanged_and_takes_no_embedding() -> None:
    v2 = _tiny("v2")
    assert v2.size.version == "v2" and v2.sv_emb is None
    assert not any(key.split(".")[0] in ("sv_emb", "ge_to512", "prelu") for key in v2.state_dict())
    with pytest.raises(ValueError, match="takes no speaker-verification"):
        v2(**_batch(v2.size), sv=torch.randn(2, 64))
    pro = _tiny("v2Pro")
    assert pro.block_names() == v2.block_names()  # the new layers are not repeated blocks
    assert len(MultiPeriodDiscriminator.for_size(v2.size).discriminators) == 6


def test_pro_discriminator_has_periods_17_and_23() -> None:
    size = load_size("tiny", "v2Pro").sovits
    disc = MultiPeriodDiscriminator.for_size(size)
    assert disc.periods == tuple(PRO_PERIODS)
    assert [d.period for d in disc.discriminators[1:]] == PRO_PERIODS
    wave = torch.randn(2, 1, 2048)
    scores_real, scores_fake, feats_real, _ = disc(wave, wave.flip(-1))
    assert len(scores_real) == len(scores_fake) == len(feats_real) == 8


def test_a_size_whose_version_and_embedding_disagree_is_refused() -> None:
    tiny = load_size("tiny").sovits
    with pytest.raises(ValueError, match="'v2Pro' with sv_dim=0"):
        SoVITSGenerator(dataclasses.replace(tiny, version="v2Pro"))
    with pytest.raises(ValueError, match="'v3'"):
        SoVITSGenerator(dataclasses.replace(tiny, version="v3"))
