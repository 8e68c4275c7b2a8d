"""Gradient norms and clipping, and SoVITS's accumulation over both networks' losses."""

import json
import math

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.errors import ConfigError
from leanvoice.train.gpt import GPTTrainer
from leanvoice.train.gradients import clip_gradients
from leanvoice.train.sovits import SoVITSTrainer
from tests.tiny import TINY


def test_clip_gradients_measures_and_clips_the_global_norm() -> None:
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(4))
    a.grad, b.grad = torch.full((3,), 3.0), torch.full((4,), 4.0)  # norm √(27 + 64)
    frozen = torch.nn.Parameter(torch.zeros(2))  # no gradient: left out
    assert clip_gradients([a, b, frozen], 0.0) == pytest.approx(math.sqrt(91))
    assert torch.equal(a.grad, torch.full((3,), 3.0))  # 0 = measured only
    assert clip_gradients([a, b], 1.0) == pytest.approx(math.sqrt(91))
    total = torch.cat([a.grad, b.grad]).norm()
    assert total == pytest.approx(1.0, rel=1e-5)
    assert math.isnan(clip_gradients([frozen], 1.0))


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("trainer_class", "networks"),
    [(GPTTrainer, ["gpt"]), (SoVITSTrainer, ["generator", "discriminator"])],
)
def test_each_networks_norm_is_logged_and_a_clip_changes_the_update(
    featured_demo, tmp_path, trainer_class, networks
) -> None:
    """A tiny clip bounds the first update: the weights move less than without it."""
    runs = {}
    for clip in (0.0, 1e-3):
        cfg = load_config(
            overrides=[*TINY, "train.max_steps=1", "train.save_every=0", f"train.grad_clip={clip}"]
        )
        trainer = trainer_class(cfg, featured_demo, tmp_path / f"clip{clip}")
        torch.manual_seed(0)
        trainer.train()
        first = next(iter(trainer.networks.values())).model
        runs[clip] = {n: p.detach().clone() for n, p in first.named_parameters()}
        lines = _metrics(tmp_path / f"clip{clip}")
        norms = [lines[0][f"grad_norm/{name}"] for name in networks]
        assert all(math.isfinite(norm) and norm > 1e-3 for norm in norms), norms
    changed = [n for n in runs[0.0] if not torch.equal(runs[0.0][n], runs[1e-3][n])]
    assert changed  # the clipped run took another step


def test_grad_clip_refuses_the_in_backward_optimizer() -> None:
    with pytest.raises(ConfigError, match=r"train\.grad_clip"):
        load_config(overrides=["train.grad_clip=1", "memory.optimizer=adamw_in_backward"])


def _sovits_gradients(featured_demo, run, parts: list[list[int]], seeds: list[int]) -> dict:
    """Both networks' gradients after one `forward_backward` over `parts` (no step);
    micro-batch i's forward draws from seeds[i], so that runs can give a micro-batch the
    same random slices and posterior samples."""
    cfg = load_config(overrides=[*TINY])

    def reseed(step: int, index: int, point: str) -> None:
        if point == "forward":
            torch.manual_seed(seeds[index])

    trainer = SoVITSTrainer(cfg, featured_demo, run, fault_injector=reseed)
    torch.manual_seed(0)
    trainer.setup()
    trainer.generator.eval()  # no dropout
    assert not trainer.forward_backward(parts).failed_at
    return {
        name: {n: p.grad.clone() for n, p in net.model.named_parameters() if p.grad is not None}
        for name, net in trainer.networks.items()
    }


def test_sovits_micro_batches_add_up_by_their_share_of_clips(featured_demo, tmp_path) -> None:
    """Both networks' gradients from micro-batches [a, b] and [c] in one step equal 2/3 of
    [a, b]'s and 1/3 of [c]'s, each run alone: the discriminator's loss reaches only the
    discriminator, the generator's (the discriminator frozen) only the generator. (A whole
    batch draws other random slices than its parts, so it is compared part by part.)"""
    split = _sovits_gradients(featured_demo, tmp_path / "a", [[0, 5], [30]], [100, 101])
    pair = _sovits_gradients(featured_demo, tmp_path / "b", [[0, 5]], [100])
    alone = _sovits_gradients(featured_demo, tmp_path / "c", [[30]], [101])
    for network in ("generator", "discriminator"):
        assert split[network] and split[network].keys() == pair[network].keys()
        for name, grad in split[network].items():
            expected = pair[network][name] * 2 / 3
            if name in alone[network]:
                expected = expected + alone[network][name] / 3
            # key biases get rounding noise (~1e-8) where their true gradient is 0
            assert (grad - expected).norm() <= 1e-4 * expected.norm() + 1e-6, (network, name)


def test_sovits_lora_trains_its_adapters_and_nothing_else(featured_demo, tmp_path) -> None:
    """Fails when no adapter gets a gradient (or frozen weights move)."""
    cfg = load_config(overrides=[*TINY, "memory.lora.rank=4", "memory.lora.alpha=8"])
    trainer = SoVITSTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.setup()
    generator = trainer.generator
    before = {n: p.detach().clone() for n, p in generator.named_parameters()}
    trainer.train_step(trainer.sampler.global_batches(0)[:1])
    moved = {n for n, p in generator.named_parameters() if not torch.equal(before[n], p)}
    adapters = {n for n in before if "lora_" in n}
    assert adapters and moved
    # B starts at zero: the first step moves every B; A moves once B is non-zero
    assert {n for n in adapters if "lora_B" in n} <= moved
    assert moved <= adapters


def test_the_removed_stft_loss_weight_is_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.stft_loss_weight'"):
        load_config(overrides=["train.stft_loss_weight=1"])
