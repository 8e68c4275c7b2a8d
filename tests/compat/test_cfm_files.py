"""Official v3/v4/v5 files on tiny models: the LoRA file (header, keys, merge), full files,
version detection, the vocoder file. Weights are rounded to fp16 first, as the files
hold them, so that round trips compare exactly."""

import copy
import hashlib
import io
import json
import re
from pathlib import Path

import peft
import pytest
import torch

from leanvoice.compat import cfm as cfm_files
from leanvoice.compat import (
    export_cfm_full,
    export_cfm_lora,
    load_official_cfm,
    load_official_cfm_lora,
    load_official_sovits,
    load_official_vocoder,
    read_checkpoint,
)
from leanvoice.compat.keys import sovits_from_official, sovits_to_official
from leanvoice.errors import InputError
from leanvoice.memory.lora import apply_lora, merge_lora
from leanvoice.models.cfm import CFMSoVITS, MelVocoder, cfm_size, vocoder_size

OFFICIAL_V4_KEYS = Path(__file__).parents[1] / "fixtures" / "reference" / "s2Gv4_keys.json"
OFFICIAL_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]  # s2_train_v3_lora.py
RANK = 4


def _round_to_fp16(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.copy_(tensor.half().float())
    return module


def _perturb(module: torch.nn.Module, seed: int, *names: str) -> None:
    """Seeded noise on the parameters whose names contain one of `names`, fp16-exact."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if any(part in name for part in names):
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
                p.copy_(p.half().float())


def _base(version: str = "v4") -> CFMSoVITS:
    torch.manual_seed(0)
    model = CFMSoVITS(cfm_size("tiny", version)).eval()
    model.quantizer.vq.layers[0]._codebook.embed.normal_()
    _perturb(model, 1, "grn", "norm")  # the GRN starts at zero: make every weight count
    return _round_to_fp16(model)


def _write(path: Path, payload: dict, header: bytes | None = None) -> Path:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    raw = buffer.getvalue()
    path.write_bytes(raw if header is None else header + raw[2:])
    return path


def _pretrained(tmp_path: Path, model: CFMSoVITS, **config_model) -> Path:
    """The official pretrained layout: a plain zip, fp16 weights, an s2.json config."""
    config = cfm_files.cfm_official_config(model.size)
    del config["model"]["version"]
    config["model"].update(config_model)
    weight = {k: v.half() for k, v in sovits_to_official(model.state_dict()).items()}
    return _write(tmp_path / "s2Gv4.pth", {"weight": weight, "config": config, "info": "x"})


def _equal_states(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _with_our_adapters(model: CFMSoVITS, alpha: float) -> CFMSoVITS:
    adapted = apply_lora(copy.deepcopy(model), RANK, alpha)
    _perturb(adapted, 2, "lora_A", "lora_B", "wns1", "bridge")
    return adapted


def _official_trainer_file(tmp_path: Path, model: CFMSoVITS, version: str) -> tuple[Path, dict]:
    """What s2_train_v3_lora.py saves: peft wraps `cfm`; every key that is not a frozen
    parameter, in fp16, with `lora_rank` and the header. → (file, the peft model)."""
    trainer = copy.deepcopy(model)
    config = peft.LoraConfig(target_modules=OFFICIAL_TARGETS, r=RANK, lora_alpha=RANK)
    trainer.cfm = peft.get_peft_model(trainer.cfm, config)
    _perturb(trainer, 3, "lora_A", "lora_B", "wns1", "ref_enc", "linear_mel")
    frozen = {name for name, p in trainer.named_parameters() if not p.requires_grad}
    state = sovits_to_official(trainer.state_dict())
    weight = {k: v.half() for k, v in state.items() if k not in frozen}
    payload = {"weight": weight, "config": {}, "info": "1epoch_1iteration", "lora_rank": RANK}
    headers = {"v3": b"03", "v4": b"04", "v5dev": b"07", "v5turbo": b"08"}
    path = _write(tmp_path / "trained.pth", payload, headers[version])
    return path, trainer


@pytest.mark.parametrize(
    ("version", "header"), [("v4", b"04"), ("v3", b"03"), ("v5dev", b"07"), ("v5turbo", b"08")]
)
def test_lora_export_has_the_header_and_the_keys_the_official_trainer_saves(
    tmp_path: Path, version: str, header: bytes
) -> None:
    model = _base(version)
    path = tmp_path / "lora.pth"
    export_cfm_lora(_with_our_adapters(model, RANK), path, rank=RANK)
    assert path.read_bytes()[:2] == header
    data, read_header = read_checkpoint(path)
    assert read_header == f"{version}-lora" and data["lora_rank"] == RANK
    official = read_checkpoint(_official_trainer_file(tmp_path, model, version)[0])[0]
    assert data["weight"].keys() == official["weight"].keys()
    assert {v.dtype for v in data["weight"].values()} == {torch.float16}
    assert (
        "cfm.base_model.model.estimator.transformer_blocks.1.attn.to_out.0.lora_B.default.weight"
        in data["weight"]
    )


def test_lora_export_loads_back_as_the_merged_model_with_its_scale_folded(tmp_path: Path) -> None:
    model = _base()
    adapted = _with_our_adapters(model, alpha=2 * RANK)  # scale 2: folded into B
    export_cfm_lora(adapted, tmp_path / "lora.pth")
    loaded = load_official_cfm_lora(_pretrained(tmp_path, model), tmp_path / "lora.pth")
    assert _equal_states(loaded, merge_lora(adapted).eval())
    assert not _equal_states(loaded, model)


@pytest.mark.parametrize("version", ["v4", "v5dev"])
def test_the_official_trainers_lora_file_merges_as_peft_does(tmp_path: Path, version) -> None:
    model = _base(version)
    path, trainer = _official_trainer_file(tmp_path, model, version)
    trainer.cfm = trainer.cfm.merge_and_unload()  # the official inference's merge
    loaded = load_official_cfm_lora(_pretrained(tmp_path, model), path)
    assert loaded.size.version == version
    assert _equal_states(loaded, trainer)  # its fp16 values, merged in fp32


def test_a_lora_file_alone_is_refused_with_how_to_load_it(tmp_path: Path) -> None:
    path, _ = _official_trainer_file(tmp_path, _base(), "v4")
    with pytest.raises(InputError, match=r"load_official_cfm_lora\(pretrained, lora\)"):
        load_official_cfm(path)
    with pytest.raises(InputError, match="v3/v4 SoVITS file"):
        load_official_sovits(path)


def test_a_lora_file_with_a_stray_key_is_refused(tmp_path: Path) -> None:
    model = _base()
    path, _ = _official_trainer_file(tmp_path, model, "v4")
    data, _ = read_checkpoint(path)
    data["weight"]["wns1.extra.weight"] = torch.zeros(1, dtype=torch.float16)
    _write(path, data, b"04")
    with pytest.raises(InputError, match=re.escape("unexpected wns1.extra.weight")):
        load_official_cfm_lora(_pretrained(tmp_path, model), path)


def test_lora_export_refuses_a_rank_that_is_not_the_adapters(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="rank 8 asked for, but the adapters have rank 4"):
        export_cfm_lora(_with_our_adapters(_base(), RANK), tmp_path / "x.pth", rank=8)


def test_a_qlora_model_exports_the_lora_file_of_its_adapters(tmp_path: Path) -> None:
    """A 4-bit DiT base: the file holds the same adapters and trained parts (the base is
    the official pretrained one); a full export asks for a merge first."""
    pytest.importorskip("bitsandbytes")
    adapted = _with_our_adapters(_base(), RANK)
    quantized = apply_lora(copy.deepcopy(_base()), RANK, RANK, quantize_base=True)
    trained = adapted.state_dict()
    with torch.no_grad():
        for name, p in quantized.named_parameters():
            if name in trained and trained[name].dtype == p.dtype:
                p.copy_(trained[name])
    export_cfm_lora(adapted, tmp_path / "lora.pth")
    export_cfm_lora(quantized, tmp_path / "qlora.pth")
    expected = read_checkpoint(tmp_path / "lora.pth")[0]["weight"]
    got = read_checkpoint(tmp_path / "qlora.pth")[0]["weight"]
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in got)
    with pytest.raises(InputError, match="4-bit"):
        export_cfm_full(quantized, tmp_path / "full.pth")


@pytest.mark.parametrize(
    ("version", "header"), [("v4", b"04"), ("v3", b"02"), ("v5dev", b"07"), ("v5turbo", b"08")]
)
def test_full_export_has_the_webui_header_and_loads_back_alone(
    tmp_path: Path, version: str, header: bytes
) -> None:
    """v3: header 02 (full v3); v4/v5: a LoRA-layout file that holds every weight."""
    model = _base(version)
    path = tmp_path / "full.pth"
    export_cfm_full(model, path)
    assert path.read_bytes()[:2] == header
    loaded, config = load_official_cfm(path)
    assert loaded.size.version == version and config["model"]["version"] == version
    assert _equal_states(loaded, model)


def test_full_v4_export_names_the_dit_as_the_peft_wrapped_official_model(tmp_path: Path) -> None:
    model = _base("v4")
    export_cfm_full(_with_our_adapters(model, RANK), tmp_path / "full.pth")
    data, _ = read_checkpoint(tmp_path / "full.pth")
    official = copy.deepcopy(model)
    official.cfm = peft.get_peft_model(
        official.cfm, peft.LoraConfig(target_modules=OFFICIAL_TARGETS, r=1, lora_alpha=1)
    )
    wrapped = {k for k in sovits_to_official(official.state_dict()) if ".lora_" not in k}
    assert data["lora_rank"] >= 1 and data["weight"].keys() == wrapped


def test_a_headerless_full_file_needs_its_version(tmp_path: Path) -> None:
    path = _pretrained(tmp_path, _base())
    with pytest.raises(InputError) as refused:
        load_official_cfm(path)
    assert "give its version (v3 or v4)" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert load_official_cfm(path, "v3")[0].size.version == "v3"


def test_a_headerless_v5_file_is_told_from_v3_v4_by_its_missing_step_embedding(
    tmp_path: Path,
) -> None:
    path = _pretrained(tmp_path, _base("v5turbo"))
    with pytest.raises(InputError, match=r"give its version \(v5dev or v5turbo\)"):
        load_official_cfm(path)
    assert load_official_cfm(path, "v5turbo")[0].size.version == "v5turbo"
    with pytest.raises(InputError, match=r"lack the DiT's step-size embedding \(d_embed\): not v4"):
        load_official_cfm(path, "v4")
    v4 = _pretrained(tmp_path, _base("v4"))
    with pytest.raises(InputError, match="have the DiT's step-size embedding"):
        load_official_cfm(v4, "v5dev")


def test_a_headerless_full_file_takes_the_version_its_config_states(tmp_path: Path) -> None:
    path = _pretrained(tmp_path, _base(), version="v4")
    assert load_official_cfm(path)[0].size.version == "v4"
    assert load_official_cfm(path, "v3")[0].size.version == "v3"  # asked for: it wins


def test_the_official_pretrained_files_are_told_apart_by_their_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _pretrained(tmp_path, _base())
    digest = hashlib.md5(path.read_bytes()[:8192]).hexdigest()
    monkeypatch.setitem(cfm_files.PRETRAINED_MD5, digest, "v4")
    assert load_official_cfm(path)[0].size.version == "v4"
    with pytest.raises(InputError, match="the file says v4, but v3 was asked for"):
        load_official_cfm(path, "v3")


def test_a_full_file_missing_a_key_is_refused(tmp_path: Path) -> None:
    model = _base()
    path = _pretrained(tmp_path, model, version="v4")
    data, _ = read_checkpoint(path)
    del data["weight"]["wns1.enc.in_layers.1.weight_g"]
    _write(path, data)
    with pytest.raises(InputError, match=re.escape("missing wns1.enc.in_layers.1")):
        load_official_cfm(path)


def test_the_official_v4_key_list_is_what_a_full_file_holds_and_what_loads() -> None:
    """At the official size, on the meta device: the v3 layout is the official key list,
    the v4 layout the same keys inside peft's wrapper, and the loader's key check accepts
    exactly that list."""
    official = {key: shape for key, shape, _ in json.loads(OFFICIAL_V4_KEYS.read_text())}
    with torch.device("meta"):
        model = CFMSoVITS(cfm_size("official", "v4"))
    v3_weight, size = cfm_files.cfm_full_weights(model.state_dict(), "v3")
    assert {k: list(v.shape) for k, v in v3_weight.items()} == official
    v4_weight, _ = cfm_files.cfm_full_weights(model)
    base, adapters = cfm_files._split_peft(Path("x"), v4_weight)
    assert base.keys() == official.keys() and not adapters
    assert sum(".base_layer." in k for k in v4_weight) == 22 * 4 * 2
    state = sovits_from_official(dict(v3_weight))
    cfm_files.check_state_keys(Path("x"), model, state, partial=False)
    del state["cfm.estimator.transformer_blocks.21.attn.to_v.bias"]
    with pytest.raises(InputError, match=re.escape("missing cfm.estimator.transformer_blocks.21")):
        cfm_files.check_state_keys(Path("x"), model, state, partial=False)
    assert size == cfm_size("official", "v3")


def test_the_official_v5_keys_are_v4_s_without_the_step_embedding() -> None:
    """official dit.py (3b95794c): `d_embed = ... if use_step_embedding else None`."""
    official = {key: shape for key, shape, _ in json.loads(OFFICIAL_V4_KEYS.read_text())}
    without = {k: v for k, v in official.items() if ".d_embed." not in k}
    assert len(without) == len(official) - 4  # time_mlp.0 and .2, weight and bias
    with torch.device("meta"):
        model = CFMSoVITS(cfm_size("official", "v5turbo"))
    weight, size = cfm_files.cfm_full_weights(model)
    base, _ = cfm_files._split_peft(Path("x"), weight)
    assert {k: list(v.shape) for k, v in base.items()} == without
    assert size == cfm_size("official", "v5turbo")


def test_the_vocoder_file_loads_strictly_and_other_files_are_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocoder = _round_to_fp16(MelVocoder(vocoder_size("tiny")).eval())
    torch.save({k: v.half() for k, v in vocoder.state_dict().items()}, tmp_path / "vocoder.pth")
    loaded = load_official_vocoder(tmp_path / "vocoder.pth")
    mel = torch.randn(1, 100, 6) - 4
    with torch.no_grad():
        assert torch.equal(loaded(mel), vocoder(mel))
    torch.save({"weight": vocoder.state_dict()}, tmp_path / "wrapped.pth")
    with pytest.raises(InputError, match="not the v4 vocoder"):
        load_official_vocoder(tmp_path / "wrapped.pth")
    state = vocoder.state_dict()
    state["conv_post.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(InputError, match=re.escape("unexpected conv_post.extra")):
        load_official_vocoder(tmp_path / "extra.pth")
