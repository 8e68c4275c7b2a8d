import pytest
import torch

from leanvoice.config import load_config
from leanvoice.data.training_sets import collate_gpt
from leanvoice.train.distributed import init_distributed
from leanvoice.train.gpt import GPTTrainer


def _gradients(featured_demo, tmp_path, parts: list[list[int]], loss_norm: str):
    cfg = load_config(overrides=["model.size=tiny", "memory.precision=fp32",
                                 f"train.loss_norm={loss_norm}"])  # fmt: skip
    trainer = GPTTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.ctx = init_distributed("cpu")
    trainer.clips = trainer.load_clips()
    torch.manual_seed(0)
    trainer.build()
    trainer.model.eval()  # no dropout: the same maths in both layouts
    total, targets = trainer.accumulate([collate_gpt(trainer.clips, p) for p in parts])
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters()}
    return total, targets, grads


@pytest.mark.parametrize("loss_norm", ["sum", "mean"])
def test_four_micro_batches_of_varying_lengths_equal_one_batch(
    featured_demo, tmp_path, loss_norm: str
) -> None:
    parts = [[0, 5], [11, 17, 23], [30], [2, 8, 35, 39]]  # zh and en clips, unequal lengths
    one = [[i for part in parts for i in part]]
    total_a, targets_a, grads_a = _gradients(featured_demo, tmp_path, parts, loss_norm)
    total_b, targets_b, grads_b = _gradients(featured_demo, tmp_path, one, loss_norm)
    assert targets_a == targets_b
    assert total_a == pytest.approx(total_b, rel=1e-5)
    for name, grad in grads_b.items():  # 1e-5 relative to each gradient tensor's norm
        assert (grads_a[name] - grad).norm() <= 1e-5 * grad.norm() + 1e-12, name
