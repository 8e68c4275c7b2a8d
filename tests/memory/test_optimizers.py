import pytest
import torch

from leanvoice.config.sizes import load_size
from leanvoice.errors import ConfigError
from leanvoice.memory.accounting import optimizer_state_bytes, tensor_storage_bytes
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.models.gpt import SemanticGPT


def _step(optimizer, params):
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()


def test_8bit_states_hold_under_a_third_of_adamw_bytes() -> None:
    params = [torch.nn.Parameter(torch.randn(256, 1024)) for _ in range(2)]
    plain = build_optimizer(params, "adamw", 1e-3)
    _step(plain, params)
    eight = build_optimizer(params, "adamw8bit", 1e-3)  # bitsandbytes where installed
    _step(eight, params)
    assert optimizer_state_bytes(eight) <= 0.3 * optimizer_state_bytes(plain)


def test_torchao_8bit_states_are_counted_by_what_they_hold() -> None:
    """torchao's 8-bit states are tensor subclasses that claim fp32 sizes."""
    from torchao.optim import AdamW8bit

    params = [torch.nn.Parameter(torch.randn(256, 1024)) for _ in range(2)]
    plain = build_optimizer(params, "adamw", 1e-3)
    _step(plain, params)
    eight = AdamW8bit(params, lr=1e-3)
    _step(eight, params)
    state = eight.state[params[0]]["exp_avg"]
    assert state.numel() * state.element_size() == params[0].nbytes  # what it claims
    assert tensor_storage_bytes(state) < 0.3 * params[0].nbytes  # what it holds
    assert optimizer_state_bytes(eight) <= 0.3 * optimizer_state_bytes(plain)


@pytest.mark.slow
def test_tiny_gpt_still_overfits_with_8bit_adamw() -> None:
    torch.manual_seed(0)
    model = SemanticGPT(load_size("tiny").gpt)
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, 732, (2, 12), generator=g)
    y = torch.randint(0, 1024, (2, 30), generator=g)
    bert = torch.randn(2, 32, 12, generator=g)
    xl, yl = torch.tensor([12, 9]), torch.tensor([30, 22])
    optimizer = build_optimizer(model.parameters(), "adamw8bit", 3e-3, betas=(0.9, 0.99))
    losses = []
    for _ in range(200):
        loss, _, tokens = model.loss(x, xl, bert, y, yl, count_padding=False)
        optimizer.zero_grad()
        (loss / tokens).backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_optimizer_kinds_and_clear_errors() -> None:
    params = [torch.nn.Parameter(torch.randn(4, 4))]
    assert isinstance(build_optimizer(params, "adamw_in_backward", 1e-3), OptimizerInBackward)
    with pytest.raises(ConfigError, match="nothing to offload"):
        build_optimizer(params, "adamw_cpu_offload", 1e-3)
    with pytest.raises(ConfigError, match="use adamw"):
        build_optimizer(params, "sgd", 1e-3)
    frozen = [torch.nn.Parameter(torch.randn(2), requires_grad=False)]
    with pytest.raises(ConfigError, match="no trainable parameters"):
        build_optimizer(frozen, "adamw", 1e-3)


def test_reports_name_the_implementation_and_groups_keep_their_rates() -> None:
    from leanvoice.memory.optimizers import optimizer_name

    slow, fast = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(3))
    groups = [{"params": [slow], "lr": 4e-4}, {"params": [fast]}]
    plain = build_optimizer(groups, "adamw", 1e-3)
    assert optimizer_name(plain) == "torch AdamW (foreach)"  # fused on CUDA
    assert [g["lr"] for g in plain.param_groups] == [4e-4, 1e-3]
    eight = build_optimizer(groups, "adamw8bit", 1e-3)
    assert optimizer_name(eight) == "bitsandbytes AdamW8bit"  # installed by the dev extra
    in_backward = build_optimizer(groups, "adamw_in_backward", 1e-3)
    assert in_backward.optimizers[slow].param_groups[0]["lr"] == 4e-4
    assert in_backward.optimizers[fast].param_groups[0]["lr"] == 1e-3
    assert optimizer_name(in_backward).startswith("torch AdamW in backward")


def test_auto_keeps_full_precision_unless_its_states_would_crowd_the_budget() -> None:
    from leanvoice.memory.optimizers import resolve_auto

    v2_gpt = 77_600_000  # 16 bytes each in full precision: 1.2 GB
    assert resolve_auto(v2_gpt, "cpu")[0] == "adamw"  # no budget on a CPU
    assert resolve_auto(v2_gpt, "cpu", budget_bytes=4 * 2**30)[0] == "adamw"  # 29 %
    kind, why = resolve_auto(v2_gpt, "cpu", budget_bytes=2 * 2**30)  # 58 %: too much
    assert kind == "adamw8bit" and "8-bit" in why and "58%" in why
    model = torch.nn.Linear(8, 8)
    with pytest.raises(ConfigError, match="resolve auto first"):  # the trainer resolves it
        build_optimizer(model.parameters(), "auto", 1e-3)
