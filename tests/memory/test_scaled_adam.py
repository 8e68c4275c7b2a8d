"""ScaledAdam: the first step's exact size, the scalar rule, clipping to twice the median
gradient norm, state round trip, and a tiny GPT that learns with the official rate."""

import io

import pytest
import torch

from leanvoice.config.sizes import load_size
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.scaled_adam import ScaledAdam
from leanvoice.models.gpt import SemanticGPT


def test_first_step_moves_each_tensor_by_lr_times_its_rms() -> None:
    torch.manual_seed(0)
    matrix = torch.nn.Parameter(torch.randn(8, 16) * 0.5)
    scalar = torch.nn.Parameter(torch.tensor([2.0]))
    before_m, before_s = matrix.detach().clone(), scalar.detach().clone()
    optimizer = ScaledAdam([matrix, scalar], lr=0.01)
    matrix.grad = torch.randn(8, 16)
    scalar.grad = torch.tensor([-3.0])
    optimizer.step()
    rms = before_m.pow(2).mean().sqrt()
    # Adam's first normalised gradient is sign(grad); × rms × lr × (1 - beta1)
    expected = before_m - 0.01 * 0.1 * rms * matrix.grad.sign()
    torch.testing.assert_close(matrix.detach(), expected, rtol=1e-5, atol=1e-7)
    # a scalar: lr × scalar_lr_scale × (1 - beta1) × sign(grad)
    torch.testing.assert_close(scalar.detach(), before_s + 0.01 * 0.1 * 0.1)


def test_clipping_holds_an_outlier_gradient_to_twice_the_median_norm() -> None:
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(32, 32))
    optimizer = ScaledAdam([weight], lr=1e-3, clipping_update_period=8)
    direction = torch.randn(32, 32)
    for _ in range(9):  # a window of equal gradient norms
        weight.grad = direction.clone()
        optimizer.step()
    rms = optimizer.state[weight]["param_rms"]
    median = float((direction * rms).norm())
    assert optimizer.state[weight]["model_norm_threshold"] == pytest.approx(2 * median, rel=1e-3)
    weight.grad = 50 * direction
    factor = optimizer._clipping_factor(optimizer.param_groups[0], [weight], 0)
    assert factor == pytest.approx(2 / 50, rel=1e-3)


def test_state_round_trips_through_a_weights_only_checkpoint() -> None:
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(6, 6))
    optimizer = ScaledAdam([weight])
    for _ in range(5):
        weight.grad = torch.randn(6, 6)
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    again = ScaledAdam([weight])
    again.load_state_dict(torch.load(buffer, weights_only=True))
    assert again.state[weight]["step"] == 5
    torch.testing.assert_close(again.state[weight]["delta"], optimizer.state[weight]["delta"])


def test_tiny_gpt_learns_with_the_official_rate() -> None:
    torch.manual_seed(0)
    model = SemanticGPT(load_size("tiny").gpt).eval()
    optimizer = build_optimizer(model.parameters(), "scaled_adam", 0.01)
    assert isinstance(optimizer, ScaledAdam)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (2, 10), generator=g)
    y = torch.randint(0, 1024, (2, 14), generator=g)
    bert = torch.randn(2, 32, 10, generator=g)
    losses = []
    for _ in range(60):
        loss, _, _ = model.loss(x, torch.tensor([10, 7]), bert, y, torch.tensor([14, 9]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
