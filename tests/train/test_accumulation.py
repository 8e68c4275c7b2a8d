import pytest
import torch

from leanvoice.config import load_config
from leanvoice.train.gpt import GPTTrainer


def _gradients(featured_demo, tmp_path, parts: list[list[int]], loss_norm: str):
    cfg = load_config(
        overrides=["model.size=tiny", "memory.precision=fp32", f"train.loss_norm={loss_norm}"]
    )
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run")
    torch.manual_seed(0)
    trainer.setup()
    trainer.model.eval()  # no dropout: the same maths in both layouts
    result = trainer.forward_backward(parts)
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters()}
    return result, grads


@pytest.mark.parametrize("loss_norm", ["sum", "mean"])
def test_four_micro_batches_of_varying_lengths_equal_one_batch(
    featured_demo, tmp_path, loss_norm: str
) -> None:
    parts = [[0, 5], [11, 17, 23], [30], [2, 8, 35, 39]]  # zh and en clips, unequal lengths
    one = [[i for part in parts for i in part]]
    split, grads_a = _gradients(featured_demo, tmp_path, parts, loss_norm)
    whole, grads_b = _gradients(featured_demo, tmp_path, one, loss_norm)
    assert not split.failed_at and (split.real, split.padded) != (0, 0)
    assert split.real == whole.real
    assert split.loss == pytest.approx(whole.loss, rel=1e-5)
    # 3e-5 relative to each gradient tensor's norm: fp32 sums in another order differ
    # by about 1e-5 for a scalar summed over every position (the positional alphas)
    for name, grad in grads_b.items():
        assert (grads_a[name] - grad).norm() <= 3e-5 * grad.norm() + 1e-12, name
