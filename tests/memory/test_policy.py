import pytest
import torch

from leanvoice.config import PRESET_NAMES, load_config
from leanvoice.config.sizes import load_size
from leanvoice.memory.optimizers import build_optimizer, resolve_auto
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.gpt import SemanticGPT


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_each_preset_combination_runs_a_training_step(preset: str) -> None:
    cfg = load_config(preset, overrides=["model.size=tiny"])
    torch.manual_seed(0)
    setup = apply_memory_policy(SemanticGPT(load_size("tiny").gpt), "gpt", cfg.memory)
    trainable = sum(p.numel() for p in setup.model.parameters() if p.requires_grad)
    kind = resolve_auto(trainable, "cpu")[0] if cfg.memory.optimizer == "auto" else None
    optimizer = build_optimizer(setup.model.parameters(), kind or cfg.memory.optimizer, 1e-3)
    model = setup.model.train()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (2, 10), generator=g)
    y = torch.randint(0, 1024, (2, 14), generator=g)
    bert = torch.randn(2, 32, 10, generator=g)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    with setup.precision.autocast():
        loss, _, _ = model.loss(x, torch.tensor([10, 7]), bert, y, torch.tensor([14, 9]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed = [
        n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])
    ]
    assert changed, "the step updated nothing"
    if cfg.memory.lora.rank:
        assert all("lora_" in n for n in changed)
    expected = {"all": 2, "every:2": 1}[cfg.memory.checkpoint]
    assert len(setup.checkpointed_blocks) == expected


def _sovits_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    size = model.size
    g = torch.Generator().manual_seed(1)
    out = model.train()(
        torch.randn(2, size.ssl_dim, 40, generator=g),
        torch.rand(2, 1025, 40, generator=g),
        torch.tensor([40, 30]),
        torch.randint(0, 732, (2, 12), generator=g),
        torch.tensor([12, 8]),
        generator=torch.Generator().manual_seed(2),
        sv=torch.randn(2, size.sv_dim, generator=g) if size.sv_dim else None,
    )
    optimizer.zero_grad()
    (out["wave"].pow(2).mean() + out["m_p"].pow(2).mean()).backward()
    optimizer.step()


# the tiny SoVITS has 11 blocks: text_encoder 3, posterior 1, flow 2, decoder 5
@pytest.mark.parametrize(
    ("checkpoint", "blocks"), [("all", 11), ("selective", 11), ("decoder:all,flow:selective", 7)]
)
def test_sovits_policy_with_lora_and_checkpointing_runs_a_step(
    checkpoint: str, blocks: int
) -> None:
    from leanvoice.config.schema import LoraConfig, MemoryConfig
    from leanvoice.models.sovits import SoVITSGenerator

    policy = MemoryConfig(checkpoint=checkpoint, lora=LoraConfig(rank=4, alpha=8.0))
    torch.manual_seed(0)
    setup = apply_memory_policy(SoVITSGenerator(load_size("tiny").sovits), "sovits", policy)
    _sovits_step(setup.model, build_optimizer(setup.model.parameters(), "adamw", 1e-2))
    assert len(setup.checkpointed_blocks) == blocks
    assert all("lora_" in n for n, p in setup.model.named_parameters() if p.grad is not None)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_each_preset_runs_a_sovits_step(preset: str) -> None:
    from leanvoice.models.sovits import SoVITSGenerator

    cfg = load_config(preset, overrides=["model.size=tiny"])
    if "sovits" in cfg.memory.freeze:
        pytest.skip(f"{preset} keeps the SoVITS frozen")
    torch.manual_seed(0)
    model = SoVITSGenerator(load_size("tiny", "v2Pro").sovits)
    setup = apply_memory_policy(model, "sovits", cfg.memory)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    _sovits_step(setup.model, build_optimizer(setup.model.parameters(), "adamw", 1e-3))
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in before)
    # every:2 within each group: text_encoder 1, posterior 0, flow 1, decoder 2
    expected = {"all": 11, "every:2": 4}[cfg.memory.checkpoint]
    assert len(setup.checkpointed_blocks) == expected
