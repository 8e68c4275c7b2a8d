"""v3's vocoder files: the official BigVGAN folder (config.json + bigvgan_generator.pt
with weight norm) loads folded into plain weights; what we write is that layout; bad
files are one-line errors."""

import json
import re
from pathlib import Path

import pytest
import torch
from torch.nn.utils import parametrizations

from leanvoice.compat import load_official_vocoder
from leanvoice.compat.vocoders import BIGVGAN_CONFIG, BIGVGAN_WEIGHTS, export_bigvgan
from leanvoice.errors import InputError
from leanvoice.models.cfm import BigVGAN, bigvgan_size

MEL = torch.randn(1, 100, 8, generator=torch.Generator().manual_seed(1)) * 2 - 5


def _weight_normed_tiny(seed: int = 0) -> BigVGAN:
    """A tiny BigVGAN whose convs carry torch's weight norm, as the official model does
    until `remove_weight_norm`, with random norms and random Snake parameters."""
    torch.manual_seed(seed)
    model = BigVGAN(bigvgan_size("tiny")).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            parametrizations.weight_norm(module)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("original0", "alpha", "beta")):  # g: one norm per output channel
                parameter.copy_(0.5 * torch.rand_like(parameter) + 0.1 * name.endswith("a"))
    return model


def _official_state(model: BigVGAN) -> dict[str, torch.Tensor]:
    """The state dict under the names of torch.nn.utils.weight_norm (the official's)."""
    names = {".parametrizations.weight.original0": ".weight_g"}
    names[".parametrizations.weight.original1"] = ".weight_v"
    state = {}
    for key, value in model.state_dict().items():
        for new_style, official in names.items():
            key = key.replace(new_style, official)
        state[key] = value
    return state


def _write_folder(folder: Path, state: dict, config: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BIGVGAN_CONFIG).write_text(
        json.dumps(config or bigvgan_size("tiny").to_config()), encoding="utf-8"
    )
    torch.save({"generator": state}, folder / BIGVGAN_WEIGHTS)
    return folder


def test_the_official_layout_with_weight_norm_loads_as_the_weight_normed_model(
    tmp_path: Path,
) -> None:
    model = _weight_normed_tiny()
    state = _official_state(model)
    assert "conv_pre.weight_g" in state and "ups.0.0.weight_v" in state
    folder = _write_folder(tmp_path / "models--nvidia--bigvgan_v2_24khz_100band_256x", state)
    with torch.no_grad():
        expected = model(MEL)
        for path in (folder, folder / BIGVGAN_WEIGHTS):  # the folder, or its .pt
            loaded = load_official_vocoder(path)
            assert isinstance(loaded, BigVGAN) and not loaded.training
            assert not any(k.endswith(("weight_g", "weight_v")) for k in loaded.state_dict())
            assert torch.equal(loaded(MEL), expected)


def test_export_writes_the_official_folder_and_it_loads_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BigVGAN(bigvgan_size("tiny")).eval()
    folder = export_bigvgan(model, tmp_path / "bigvgan")
    config = json.loads((folder / BIGVGAN_CONFIG).read_text(encoding="utf-8"))
    assert config["num_mels"] == 100 and config["upsample_rates"] == [4, 4, 4, 4]
    generator = torch.load(folder / BIGVGAN_WEIGHTS, weights_only=True)["generator"]
    assert generator["conv_post.weight_g"].shape == (1, 1, 1)
    assert "resblocks.0.activations.0.upsample.filter" in generator
    with torch.no_grad():  # weight = g · v / ‖v‖ with g = ‖v‖: equal up to rounding
        torch.testing.assert_close(
            load_official_vocoder(folder)(MEL), model(MEL), rtol=0, atol=1e-6
        )


def _bad_cases(tmp_path: Path) -> list[tuple[Path, str]]:
    state = _official_state(_weight_normed_tiny())
    cases = []
    lonely = _write_folder(tmp_path / "lonely", state)
    (lonely / BIGVGAN_CONFIG).unlink()
    cases.append((lonely / BIGVGAN_WEIGHTS, "config.json: not found"))
    config = bigvgan_size("tiny").to_config()
    del config["upsample_rates"]
    cases.append((_write_folder(tmp_path / "keyless", state, config), "no 'upsample_rates'"))
    broken = _write_folder(tmp_path / "broken", state)
    (broken / BIGVGAN_CONFIG).write_text("{not json", encoding="utf-8")
    cases.append((broken, "config.json: not a BigVGAN config"))
    cases.append((tmp_path, f"not a BigVGAN folder: no {BIGVGAN_WEIGHTS}"))
    headless = {k: v for k, v in state.items() if k != "conv_pre.weight_g"}
    cases.append((_write_folder(tmp_path / "headless", headless), "weight_v without its"))
    wider = {**bigvgan_size("tiny").to_config(), "upsample_initial_channel": 128}
    cases.append((_write_folder(tmp_path / "wider", state, wider), "misshapen conv_pre."))
    wrapped = _write_folder(tmp_path / "wrapped", {})
    torch.save({"generator": [1, 2]}, wrapped / BIGVGAN_WEIGHTS)
    cases.append((wrapped, "'generator' is not a state dict"))
    return cases


def test_bad_bigvgan_files_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    for path, problem in _bad_cases(tmp_path):
        with pytest.raises(InputError, match=re.escape(problem)) as error:
            load_official_vocoder(path)
        message = str(error.value)
        assert "\n" not in message and str(path.parent if path.is_file() else path) in message
