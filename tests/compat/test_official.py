import sys
import types
from pathlib import Path

import pytest
import torch

from leanvoice.compat import (
    export_gpt,
    export_sovits,
    load_official_gpt,
    load_official_sovits,
    read_checkpoint,
    sovits_to_official,
)
from leanvoice.compat.official import gpt_official_config, sovits_official_config
from leanvoice.config.sizes import load_size
from leanvoice.errors import InputError
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator


class _Payload:
    """Pickles to a call that would create a file: the loader must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_runs_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pth"
    torch.save({"weight": {}, "config": _Payload(marker)}, evil)
    with pytest.raises(InputError, match="refused to load") as refused:
        read_checkpoint(evil)
    assert not marker.exists()
    message = str(refused.value)
    assert "it names the global getattr" in message and "weights_only" not in message
    assert str(evil) in message and "\n" not in message


def _save_like_official(path: Path, payload_weight: dict, config: dict) -> None:
    """Pickle the config as an instance of a class named utils.HParams, as official files."""
    utils = types.ModuleType("utils")

    class HParams:
        def __init__(self, **kwargs):
            for key, value in kwargs.items():
                setattr(self, key, HParams(**value) if isinstance(value, dict) else value)

    HParams.__module__ = "utils"
    HParams.__qualname__ = "HParams"
    utils.HParams = HParams
    sys.modules["utils"] = utils
    try:
        torch.save({"weight": payload_weight, "config": HParams(**config), "info": "x"}, path)
    finally:
        del sys.modules["utils"]


def test_official_layout_sovits_with_hparams_config_loads(tmp_path: Path) -> None:
    size = load_size("tiny").sovits
    torch.manual_seed(0)
    source = SoVITSGenerator(size).eval()
    weight = {k: v.half() for k, v in sovits_to_official(source.state_dict()).items()}
    path = tmp_path / "official.pth"
    _save_like_official(path, weight, sovits_official_config(size))
    model, config = load_official_sovits(path)
    assert config["model"]["inter_channels"] == size.inter_channels
    assert model.enc_q is not None
    for name, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[name].half().float()), name


def test_sovits_export_import_round_trip_is_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SoVITSGenerator(load_size("tiny").sovits).eval()
    first = tmp_path / "a.pth"
    export_sovits(model, first)
    assert first.read_bytes()[:2] == b"01"  # v2 version code, as official v2 exports
    loaded, _ = load_official_sovits(first)
    assert loaded.enc_q is None  # exported weights drop the posterior encoder
    second = tmp_path / "b.pth"
    export_sovits(loaded, second)
    a, b = read_checkpoint(first)[0]["weight"], read_checkpoint(second)[0]["weight"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float16 for v in a.values())
    assert not any(k.startswith("enc_q.") for k in a)


def test_gpt_export_import_round_trip_and_smaller_official_sizes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SemanticGPT(load_size("tiny").gpt).eval()
    path = tmp_path / "gpt.ckpt"
    export_gpt(model, path)
    data, _ = read_checkpoint(path)
    assert set(data) == {"weight", "config", "info"}
    assert all(
        k.startswith("model.") and v.dtype == torch.float16 for k, v in data["weight"].items()
    )
    assert data["config"] == gpt_official_config(model.size)
    loaded, _ = load_official_gpt(path)
    assert loaded.size == model.size  # sizes read back from the file
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, model.state_dict()[name].half().float())


def test_wrong_stage_truncated_and_extension_errors(tmp_path: Path) -> None:
    model = SemanticGPT(load_size("tiny").gpt)
    gpt_path = tmp_path / "gpt.ckpt"
    export_gpt(model, gpt_path)
    with pytest.raises(InputError, match="not a SoVITS"):
        load_official_sovits(gpt_path)
    truncated = tmp_path / "cut.ckpt"
    truncated.write_bytes(gpt_path.read_bytes()[:2000])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_official_gpt(truncated)
    with pytest.raises(InputError, match="language-ID extension"):
        export_gpt(SemanticGPT(load_size("tiny").gpt, num_languages=3), tmp_path / "x.ckpt")
