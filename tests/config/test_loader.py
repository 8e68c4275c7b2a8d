from pathlib import Path

import pytest

from leanvoice.config import PRESET_NAMES, load_config
from leanvoice.config.loader import parse_override
from leanvoice.config.sizes import SIZE_NAMES, load_size
from leanvoice.errors import ConfigError


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_shipped_preset_loads_into_the_schema(preset: str) -> None:
    cfg = load_config(preset)
    assert cfg.model.size == "v2"
    assert cfg.train.max_steps > 0


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_every_shipped_size_loads(size: str) -> None:
    sizes = load_size(size)
    assert sizes.gpt.phoneme_vocab_size == 732
    assert sizes.gpt.semantic_vocab_size == 1025


def test_v2_size_has_the_official_hyperparameters() -> None:
    sizes = load_size("v2")
    assert (sizes.gpt.model_dim, sizes.gpt.num_heads, sizes.gpt.num_layers) == (512, 16, 24)
    assert sizes.sovits.upsample_rates == [10, 8, 2, 2, 2]
    assert sizes.sovits.hop_length == 640


def test_dotted_overrides_are_typed() -> None:
    cfg = load_config(
        "timbre",
        overrides=["train.lr=3e-4", "memory.lora.rank=4", "memory.freeze=[gpt.embeddings, sovits]"],
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.memory.lora.rank == 4
    assert cfg.memory.freeze == ["gpt.embeddings", "sovits"]
    assert cfg.train.max_steps == 800  # the rest of the preset stays


def test_typo_in_section_is_an_error_naming_it_and_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["trian.lr=1"])
    message = str(info.value)
    assert "'trian'" in message and "train" in message and "memory" in message


def test_typo_in_nested_key_names_the_full_path() -> None:
    with pytest.raises(ConfigError, match=r"memory\.lora\.rnak.*rank"):
        load_config(overrides=["memory.lora.rnak=8"])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("train.max_steps=ten", "must be an integer"),
        ("memory.precision=fp8", "choose one of"),
        ("memory.checkpoint=sometimes", "not a policy"),
        ("data.max_sec=0", "must be positive"),
        ("memory.offload_activations=maybe", "true or false"),
        ("train", "section.key=value"),
    ],
)
def test_bad_values_are_clear_errors(override: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(overrides=[override])


def test_clashing_settings_fail_at_start() -> None:
    with pytest.raises(ConfigError, match="grad_accum"):
        load_config(overrides=["memory.optimizer=adamw_in_backward", "train.grad_accum=4"])


@pytest.mark.parametrize("policy", ["none", "all", "selective", "every:2", "count:12"])
def test_checkpoint_policies_accepted(policy: str) -> None:
    assert load_config(overrides=[f"memory.checkpoint={policy}"]).memory.checkpoint == policy


def test_user_yaml_file_and_unknown_key_inside_it(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  lr: 0.5\n")
    assert load_config(config_file=good).train.lr == 0.5
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.5\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(config_file=bad)


def test_parse_override_nests() -> None:
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match="timbre"):
        load_config("tiny-voice")


def test_lora_stages_name_known_stages() -> None:
    assert load_config("timbre").memory.lora.stages == ["gpt"]
    assert load_config("timbre").memory.half_frozen
    assert load_config().memory.lora.stages == ["gpt", "sovits"]
    with pytest.raises(ConfigError, match=r"memory\.lora\.stages: unknown stage 'sovit'"):
        load_config(overrides=["memory.lora.stages=[gpt, sovit]"])
