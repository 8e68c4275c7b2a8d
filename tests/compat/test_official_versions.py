"""Official SoVITS v2Pro / v2ProPlus files: the version header, detection, round trips."""

import io
from pathlib import Path

import pytest
import torch

from leanvoice.compat import export_sovits, load_official_sovits, read_checkpoint
from leanvoice.compat.keys import sovits_to_official
from leanvoice.compat.official import (
    export_discriminator,
    load_discriminator_weights,
    load_official_discriminator,
    sovits_official_config,
    sovits_version,
)
from leanvoice.config.sizes import load_size
from leanvoice.errors import InputError
from leanvoice.models.sovits import MultiPeriodDiscriminator, SoVITSGenerator

HEADERS = {"v2": b"01", "v2Pro": b"05", "v2ProPlus": b"06"}  # process_ckpt.py


def _tiny(version: str) -> SoVITSGenerator:
    torch.manual_seed(0)
    return SoVITSGenerator(load_size("tiny", version).sovits).eval()


def _save(path: Path, model: SoVITSGenerator, header: bytes | None, **config_model) -> None:
    """An official-layout file: fp16 weights with enc_q, the header in place of `PK`."""
    config = sovits_official_config(model.size)
    config["model"].update(config_model)
    weight = {k: v.half() for k, v in sovits_to_official(model.state_dict()).items()}
    buffer = io.BytesIO()
    torch.save({"weight": weight, "config": config, "info": "x"}, buffer)
    raw = buffer.getvalue()
    path.write_bytes(raw if header is None else header + raw[2:])


@pytest.mark.parametrize("version", ["v2", "v2Pro", "v2ProPlus"])
def test_export_writes_the_version_header_and_loads_back_the_same(
    tmp_path: Path, version: str
) -> None:
    model = _tiny(version)
    path = tmp_path / "model.pth"
    export_sovits(model, path)
    assert path.read_bytes()[:2] == HEADERS[version]
    assert read_checkpoint(path)[1] == version
    loaded, config = load_official_sovits(path)
    assert loaded.size.version == version and config["model"]["version"] == version
    assert loaded.size.sv_dim == model.size.sv_dim
    expected = {k: v.half().float() for k, v in model.state_dict().items() if "enc_q" not in k}
    assert loaded.state_dict().keys() == expected.keys()
    assert all(torch.equal(loaded.state_dict()[k], expected[k]) for k in expected)


@pytest.mark.parametrize("version", ["v2Pro", "v2ProPlus"])
def test_a_loaded_pro_file_decodes_as_the_model_it_came_from(tmp_path: Path, version: str) -> None:
    model = _tiny(version)
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    _save(tmp_path / "model.pth", model, HEADERS[version])
    loaded, _ = load_official_sovits(tmp_path / "model.pth")
    g = torch.Generator().manual_seed(4)
    codes = torch.randint(0, 1024, (1, 10), generator=g)
    phonemes = torch.randint(0, 700, (1, 7), generator=g)
    spec = torch.rand(1, 1025, 30, generator=g)
    sv = torch.randn(1, model.size.sv_dim, generator=g)
    assert torch.equal(
        loaded.decode(codes, phonemes, spec, sv_emb=sv),
        model.decode(codes, phonemes, spec, sv_emb=sv),
    )


def test_without_a_header_the_shapes_tell_the_version(tmp_path: Path) -> None:
    _save(tmp_path / "pro.pth", _tiny("v2Pro"), None, version="v2")  # a config that says v2
    assert load_official_sovits(tmp_path / "pro.pth")[0].size.version == "v2Pro"
    _save(tmp_path / "plus.pth", _tiny("v2ProPlus"), None)  # its config says v2ProPlus
    assert load_official_sovits(tmp_path / "plus.pth")[0].size.version == "v2ProPlus"
    _save(tmp_path / "v2.pth", _tiny("v2"), None)
    assert load_official_sovits(tmp_path / "v2.pth")[0].size.version == "v2"


def test_official_size_shapes_tell_pro_from_pro_plus() -> None:
    def weight(decoder_channels: int, pro: bool = True) -> dict[str, torch.Tensor]:
        shapes = {"dec.conv_pre.weight": (decoder_channels, 192, 7)}
        if pro:
            shapes["sv_emb.weight"] = (1024, 20480)
        return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}

    assert sovits_version(Path("f"), None, {}, weight(768)) == "v2ProPlus"
    assert sovits_version(Path("f"), None, {}, weight(512)) == "v2Pro"
    assert sovits_version(Path("f"), None, {}, weight(512, pro=False)) == "v2"


def test_a_header_that_contradicts_the_weights_is_refused(tmp_path: Path) -> None:
    _save(tmp_path / "liar.pth", _tiny("v2"), HEADERS["v2Pro"])
    with pytest.raises(InputError, match=r"header says SoVITS v2Pro but it lacks"):
        load_official_sovits(tmp_path / "liar.pth")
    _save(tmp_path / "v3.pth", _tiny("v2"), b"02")
    with pytest.raises(InputError, match=r"a SoVITS v3 file; this loader reads v2, v2Pro"):
        load_official_sovits(tmp_path / "v3.pth")


def test_a_pro_discriminator_file_loads_with_its_periods(tmp_path: Path) -> None:
    size = load_size("tiny", "v2Pro").sovits
    torch.manual_seed(0)
    disc = MultiPeriodDiscriminator.for_size(size)
    export_discriminator(disc, tmp_path / "s2Dv2Pro.pth")
    loaded = load_official_discriminator(tmp_path / "s2Dv2Pro.pth")
    assert loaded.periods == (2, 3, 5, 7, 11, 17, 23)
    assert all(torch.equal(v, disc.state_dict()[k]) for k, v in loaded.state_dict().items())
    v2 = MultiPeriodDiscriminator(size.discriminator_divisor)
    with pytest.raises(InputError, match="holds 8 discriminators, this model 6"):
        load_discriminator_weights(tmp_path / "s2Dv2Pro.pth", v2)
    export_discriminator(v2, tmp_path / "s2D.pth")
    assert load_official_discriminator(tmp_path / "s2D.pth").periods == (2, 3, 5, 7, 11)
