"""v5's DiT, loss, sampler and chunked synthesis against the official code's outputs.

The fixture (tests/fixtures/reference/cfm_v5_official.json, its `provenance` says how it
was made) holds what the official `DiT(use_step_embedding=False)`, `CFMV5` and
`synthesize_v5_mel` (GPT-SoVITS 3b95794c) gave for a tiny DiT whose parameters are drawn
from a seeded generator; the same draws here fill ours, whose keys are the official ones.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from leanvoice.models.cfm import ConditionalFlowMatching, DiT
from leanvoice.models.cfm.chunked import continue_reference
from leanvoice.models.cfm.config import V5DEV, V5TURBO

FIXTURE = Path(__file__).parents[2] / "fixtures" / "reference" / "cfm_v5_official.json"


@pytest.fixture(scope="module")
def official() -> dict:
    return json.loads(FIXTURE.read_text())


def recorded(official: dict, name: str) -> torch.Tensor:
    entry = official["tensors"][name]
    raw = np.frombuffer(base64.b64decode(entry["float32_base64"]), dtype="<f4")
    return torch.from_numpy(raw.copy()).reshape(entry["shape"])


class Seeded:
    """Our DiT with the fixture's parameters, and the generator that then draws the inputs
    in the recipe's order."""

    def __init__(self) -> None:
        self.dit = DiT(
            dim=64,
            depth=2,
            heads=2,
            head_dim=32,
            ff_mult=2,
            mel_dim=8,
            text_dim=16,
            conv_layers=1,
            dropout=0.1,
            step_embedding=False,
        )
        self.g = torch.Generator().manual_seed(2027)
        with torch.no_grad():
            for _, parameter in sorted(self.dit.named_parameters()):
                parameter.copy_(torch.randn(parameter.shape, generator=self.g) * 0.2)
        self.cfm = ConditionalFlowMatching(8, self.dit, shortcut=False)

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.g)

    def velocity_inputs(self):
        x, prompt, mu = self.randn(2, 8, 12), self.randn(2, 8, 12), self.randn(2, 16, 12)
        return x, prompt, mu, torch.rand(2, generator=self.g)

    def loss_inputs(self):
        return self.randn(2, 8, 12), self.randn(2, 16, 12)

    def sampler_inputs(self):
        return self.randn(1, 16, 20), self.randn(1, 8, 5)

    def synthesis_inputs(self):
        return self.randn(1, 16, 40), self.randn(1, 16, 700), self.randn(1, 8, 45)


def test_a_v5_dit_has_the_official_parameters_and_no_step_embedding(official: dict) -> None:
    ours = [[name, list(p.shape)] for name, p in sorted(Seeded().dit.named_parameters())]
    assert ours == official["parameters"]
    assert Seeded().dit.d_embed is None


def test_the_velocity_equals_the_official_with_and_without_the_prompt(official: dict) -> None:
    seeded = Seeded()
    x, prompt, mu, t = seeded.velocity_inputs()
    lengths = torch.tensor([12, 9])
    seeded.dit.eval()
    with torch.no_grad():
        velocity = seeded.dit(x, prompt, mu, t, None, lengths)
        negative = seeded.dit(x, prompt, mu, t, None, lengths, drop_prompt=True)
    assert torch.equal(velocity, recorded(official, "velocity"))
    assert torch.equal(negative, recorded(official, "velocity_drop_prompt"))


def test_the_plain_flow_matching_loss_and_gradients_equal_the_official(official: dict) -> None:
    seeded = Seeded()
    seeded.velocity_inputs()
    x1, mu = seeded.loss_inputs()
    lengths, prompt_lengths = torch.tensor([12, 9]), torch.tensor([3, 2])
    seeded.cfm.eval()
    torch.manual_seed(7)
    out = seeded.cfm(x1, lengths, prompt_lengths, mu)
    assert not bool(out["bootstrapped"])
    assert out["loss"].item() == pytest.approx(official["loss_eval"], rel=1e-6)
    out["loss"].backward()
    for name, parameter in sorted(seeded.dit.named_parameters()):
        grad = parameter.grad.double()
        expected = official["grads_eval"][name]
        scale = max(abs(expected["sum"]), expected["sumsq"] ** 0.5, 1e-6)
        assert grad.sum().item() == pytest.approx(expected["sum"], abs=1e-5 * scale), name
        assert (grad**2).sum().item() == pytest.approx(expected["sumsq"], rel=1e-5), name
    # train mode: dropout draws from the global generator in the official order
    seeded.cfm.train()
    torch.manual_seed(7)
    loss = seeded.cfm(x1, lengths, prompt_lengths, mu)["loss"]
    assert loss.item() == pytest.approx(official["loss_train"], rel=1e-6)


def test_v5_never_bootstraps() -> None:
    seeded = Seeded()
    x1, mu = seeded.loss_inputs()
    with pytest.raises(ValueError, match="no bootstrap"):
        seeded.cfm(x1, torch.tensor([12, 12]), torch.tensor([2, 2]), mu, bootstrap=True)


@pytest.mark.parametrize("cfg_rate, name", [(1.3, "sample_cfg13"), (0.0, "sample_cfg0")])
def test_the_sampler_equals_the_official(official: dict, cfg_rate: float, name: str) -> None:
    """Times j/steps, noise × 0.875, a negative run that keeps the content. The official
    static cache (its default) splits the input projection: the same sums, rounded
    differently."""
    seeded = Seeded()
    seeded.velocity_inputs()
    seeded.loss_inputs()
    mu, prompt = seeded.sampler_inputs()
    seeded.dit.eval()
    torch.manual_seed(11)
    mel = seeded.cfm.sample(
        mu,
        torch.tensor([20]),
        prompt,
        4,
        temperature=V5DEV.noise_temperature,
        cfg_rate=cfg_rate,
        negative_keeps_content=True,
    )
    assert torch.equal(mel, recorded(official, f"{name}_nostatic"))
    assert (mel - recorded(official, f"{name}_static")).abs().max() < 1e-4


@pytest.mark.parametrize("settings", [V5DEV, V5TURBO], ids=lambda s: s.name)
def test_chunked_synthesis_equals_the_official(official: dict, settings) -> None:
    """700 target frames after a 40-frame reference: chunks of 640 and 60, the second
    prompted by the first 8 reference frames and the last 32 generated ones."""
    seeded = Seeded()
    seeded.velocity_inputs()
    seeded.loss_inputs()
    seeded.sampler_inputs()
    reference_content, target, reference_mel = seeded.synthesis_inputs()
    seeded.dit.eval()
    torch.manual_seed(13)
    mel = continue_reference(
        seeded.cfm,
        settings,
        reference_mel,
        reference_content,
        target,
        steps=settings.sample_steps,
        temperature=settings.noise_temperature,
        cfg_rate=settings.cfg_rate,
    )
    assert torch.equal(mel, recorded(official, f"synth_{settings.name}"))
