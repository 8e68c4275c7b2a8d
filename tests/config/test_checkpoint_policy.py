"""memory.checkpoint's syntax, checked by the loader (group names are checked when the
policy meets the model: tests/memory/test_groups.py)."""

from pathlib import Path

import pytest

from leanvoice.config import load_config
from leanvoice.errors import ConfigError


@pytest.mark.parametrize(
    "policy",
    [
        "every:2",
        "decoder:all",
        "decoder:all,flow:none",
        "decoder:every:2,text_encoder:count:1,flow:selective",
        "layers:every:3",
    ],
)
def test_per_group_policies_load(policy: str) -> None:
    assert load_config(overrides=[f"memory.checkpoint={policy}"]).memory.checkpoint == policy


def test_per_group_policy_with_spaces_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("memory:\n  checkpoint: decoder:all, flow:every:2\n")
    assert load_config(config_file=path).memory.checkpoint == "decoder:all, flow:every:2"


@pytest.mark.parametrize(
    "policy",
    ["every:0", "decoder", "decoder:sometimes", "decoder:all;flow:none", "all,flow:none"],
)
def test_malformed_policies_are_errors_showing_the_syntax(policy: str) -> None:
    with pytest.raises(ConfigError, match=r"not a policy.*decoder:all,flow:every:2"):
        load_config(overrides=[f"memory.checkpoint={policy}"])
