"""Techniques by the model's named groups: checkpointing per group, freeze names, LoRA
targets from the same declaration."""

import dataclasses

import pytest
import torch
from peft.tuners.tuners_utils import BaseTunerLayer

from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import load_size
from leanvoice.errors import ConfigError
from leanvoice.memory.checkpointing import apply_activation_checkpointing, group_policies
from leanvoice.memory.freeze import freeze_groups
from leanvoice.memory.lora import apply_lora, lora_module_names
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator

# the tiny SoVITS's blocks, group by group
TEXT = ["enc_p.encoder_ssl", "enc_p.encoder_text", "enc_p.encoder2"]
POSTERIOR = ["enc_q.enc"]
FLOW = ["flow.flows.0.enc", "flow.flows.2.enc"]
DECODER = [f"dec.resblocks.{i}" for i in range(5)]

# memory.freeze's prefix table before the groups were declared by the models
OLD_FREEZE_PREFIXES = {
    "gpt.embeddings": ("bert_proj", "ar_text_embedding", "ar_text_position",
                       "ar_audio_embedding", "ar_audio_position"),
    "gpt.layers": ("h.",),
    "gpt.head": ("ar_predict_layer",),
    "sovits.text_encoder": ("enc_p.",),
    "sovits.decoder": ("dec.",),
    "sovits.flow": ("flow.",),
    "sovits.posterior": ("enc_q.",),
    "sovits.style": ("ref_enc.",),
    "sovits.quantizer": ("ssl_proj", "quantizer."),
}  # fmt: skip


def _sovits(version: str = "v2", **kwargs) -> SoVITSGenerator:
    torch.manual_seed(0)
    return SoVITSGenerator(load_size("tiny", version).sovits, **kwargs)


MODELS = {
    "gpt": lambda: SemanticGPT(load_size("tiny").gpt),
    "gpt+languages": lambda: SemanticGPT(load_size("tiny").gpt, num_languages=3),
    "sovits v2": lambda: _sovits(),
    "sovits v2Pro": lambda: _sovits("v2Pro"),
    "sovits f0": lambda: SoVITSGenerator(
        dataclasses.replace(load_size("tiny").sovits, harmonic_source=True), f0_conditioning=True
    ),
    "sovits inference": lambda: _sovits(with_posterior=False),
}


def _inside(name: str, prefixes: tuple[str, ...]) -> bool:
    return name.startswith(tuple(prefix + "." for prefix in prefixes))


@pytest.mark.parametrize("key", list(MODELS))
def test_each_parameter_is_in_one_group_and_blocks_lie_in_their_group(key: str) -> None:
    model = MODELS[key]()
    groups = model.parameter_groups()
    for name, _ in model.named_parameters():
        owners = [group for group, prefixes in groups.items() if _inside(name, prefixes)]
        assert len(owners) == 1, (name, owners)
    for group, blocks in model.block_names().items():
        assert group in groups
        for block in blocks:
            model.get_submodule(block)
            assert _inside(block, groups[group]), (group, block)
    assert set(model.lora_targets()) <= set(groups)


def _checkpointed(policy: str, model: torch.nn.Module | None = None) -> list[str]:
    model = model or _sovits()
    return apply_activation_checkpointing(model, model.block_names(), policy)


def test_every_2_picks_every_second_block_within_each_group() -> None:
    # every second of one mixed list of the 11 blocks was TEXT[1], enc_q.enc, FLOW[1], …
    assert _checkpointed("every:2") == [TEXT[1], FLOW[1], DECODER[1], DECODER[3]]
    assert _checkpointed("count:1") == [TEXT[0], POSTERIOR[0], FLOW[0], DECODER[0]]
    assert _checkpointed("all") == TEXT + POSTERIOR + FLOW + DECODER
    assert _checkpointed("none") == []


def test_per_group_policies_and_unnamed_groups_are_not_checkpointed() -> None:
    assert _checkpointed("decoder:all,flow:none") == DECODER
    assert _checkpointed("decoder:every:2, text_encoder:count:2") == TEXT[:2] + DECODER[1::2]
    model = _sovits()
    assert _checkpointed("flow:selective,posterior:all", model) == POSTERIOR + FLOW
    assert model.get_submodule(FLOW[0]).forward.func.__name__ == "_selective_call"
    assert model.get_submodule(POSTERIOR[0]).forward.func.__name__ == "_checkpointed_call"
    assert not hasattr(model.get_submodule(DECODER[0]).forward, "func")
    gpt = SemanticGPT(load_size("tiny").gpt)
    assert _checkpointed("layers:every:2", gpt) == ["h.layers.1"]


def test_per_group_policy_names_unknown_and_repeated_groups() -> None:
    groups = list(_sovits().block_names())
    with pytest.raises(ConfigError, match=r"no block group 'flows'.*text_encoder, posterior"):
        group_policies("decoder:all,flows:none", groups)
    with pytest.raises(ConfigError, match="no block group 'style'"):  # no repeated blocks
        group_policies("style:all", groups)
    with pytest.raises(ConfigError, match="names a group twice"):
        group_policies("decoder:all,decoder:none", groups)
    with pytest.raises(ConfigError, match="not a policy"):
        group_policies("decoder:sometimes", groups)
    with pytest.raises(ConfigError, match=r"no block group 'decoder'.*layers"):
        apply_memory_policy(
            SemanticGPT(load_size("tiny").gpt), "gpt", MemoryConfig(checkpoint="decoder:all")
        )


def test_per_group_checkpointing_keeps_sovits_gradients() -> None:
    def gradients(policy: str) -> dict[str, torch.Tensor]:
        model = _sovits().train()
        apply_activation_checkpointing(model, model.block_names(), policy)
        g = torch.Generator().manual_seed(1)
        size = model.size
        torch.manual_seed(2)
        out = model(
            torch.randn(2, size.ssl_dim, 60, generator=g),
            torch.rand(2, 1025, 60, generator=g),
            torch.tensor([60, 48]),
            torch.randint(0, 732, (2, 16), generator=g),
            torch.tensor([16, 11]),
            generator=torch.Generator().manual_seed(3),
        )
        (out["wave"].pow(2).mean() + out["z_p"].pow(2).mean()).backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    plain = gradients("none")
    mixed = gradients("decoder:selective,flow:all,text_encoder:every:2")
    for name, grad in plain.items():
        torch.testing.assert_close(mixed[name], grad, rtol=1e-5, atol=1e-6)


def _frozen_names(models: dict[str, torch.nn.Module], names: list[str]) -> set[str]:
    freeze_groups(models, names)
    return {
        f"{stage}:{n}"
        for stage, m in models.items()
        for n, p in m.named_parameters()
        if not p.requires_grad
    }


@pytest.mark.parametrize("old_name", list(OLD_FREEZE_PREFIXES))
def test_old_freeze_names_freeze_what_they_froze(old_name: str) -> None:
    def models():
        return {"gpt": SemanticGPT(load_size("tiny").gpt), "sovits": _sovits()}

    before = _frozen_names(models(), [])  # the frozen quantizer
    stage, _ = old_name.split(".")
    expected = before | {
        f"{stage}:{n}"
        for n, _ in models()[stage].named_parameters()
        if n.startswith(OLD_FREEZE_PREFIXES[old_name])
    }
    assert _frozen_names(models(), [old_name]) == expected
    assert len(expected) > len(before) or old_name == "sovits.quantizer"


def test_sovits_speaker_freezes_exactly_the_pro_parts() -> None:
    pro = _sovits("v2Pro")
    frozen = freeze_groups({"sovits": pro}, ["sovits.speaker"])
    parts = {"sv_emb", "prelu", "ge_to512"}
    assert {n for n, p in pro.named_parameters() if not p.requires_grad} == {
        n for n, _ in pro.named_parameters() if n.split(".")[0] in parts | {"ssl_proj", "quantizer"}
    }
    assert frozen == sum(p.numel() for n, p in pro.named_parameters() if n.split(".")[0] in parts)
    assert frozen > 0
    assert freeze_groups({"sovits": _sovits("v2")}, ["sovits.speaker"]) == 0  # v2: empty


def test_freeze_names_come_from_the_model_and_unknown_ones_list_them() -> None:
    gpt = SemanticGPT(load_size("tiny").gpt)
    with pytest.raises(ConfigError, match=r"unknown group 'gpt.layer' \(did you mean 'gpt.layers'"):
        freeze_groups({"gpt": gpt}, ["gpt.layer"])
    with pytest.raises(
        ConfigError, match=r"valid groups: sovits, sovits\.text_encoder, .*sovits\.speaker"
    ):
        freeze_groups({"sovits": _sovits()}, ["sovits.flows"])
    with pytest.raises(ConfigError, match=r"unknown group 'sovit\.flow'.*gpt, sovits"):
        freeze_groups({"gpt": gpt}, ["sovit.flow"])
    assert freeze_groups({"gpt": gpt}, ["sovits.anything"]) == 0  # the other stage: skipped


def _adapted(model: torch.nn.Module, targets=None) -> list[str]:
    model = apply_lora(model, 4, 8.0, targets=targets)
    return sorted(n for n, m in model.named_modules() if isinstance(m, BaseTunerLayer))


def test_lora_targets_from_the_groups_are_those_of_before() -> None:
    # the peft targets lora.py used before the groups
    GPT_LORA_TARGETS = ("self_attn", "linear1", "linear2")
    SOVITS_LORA_TARGETS = r"enc_p\..*\.(conv_q|conv_k|conv_v|conv_o|conv_1|conv_2)"
    gpt = load_size("tiny").gpt
    adapted = _adapted(SemanticGPT(gpt, num_languages=2))
    assert adapted == _adapted(SemanticGPT(gpt, num_languages=2), GPT_LORA_TARGETS)
    assert len(adapted) == 8  # 2 layers × (attention, its out_proj, linear1, linear2)
    for version in ("v2", "v2Pro"):
        adapted = _adapted(_sovits(version, f0_conditioning=True))
        assert adapted == _adapted(_sovits(version, f0_conditioning=True), SOVITS_LORA_TARGETS)
        assert len(adapted) == 28 and all(n.startswith("enc_p.") for n in adapted)
    assert len(lora_module_names(_sovits())) == 28


def _layer() -> torch.nn.Module:
    return torch.nn.ModuleDict(
        {"q": torch.nn.Linear(2, 2), "out": torch.nn.Sequential(torch.nn.Linear(2, 2))}
    )


class _Toy(torch.nn.Module):
    """Two groups; `q` and `out.0` (a dotted suffix) are targets only inside `blocks`."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList([_layer(), _layer()])
        self.head = _layer()

    def parameter_groups(self) -> dict[str, tuple[str, ...]]:
        return {"blocks": ("blocks",), "head": ("head",)}

    def lora_targets(self) -> dict[str, tuple[str, ...]]:
        return {"blocks": ("q", "out.0")}


def test_lora_targets_are_name_suffixes_inside_their_group() -> None:
    assert lora_module_names(_Toy()) == [
        "blocks.0.q",
        "blocks.0.out.0",
        "blocks.1.q",
        "blocks.1.out.0",
    ]
