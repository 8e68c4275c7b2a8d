"""The CFM's loss and sampler around a stub estimator, and the DiT's pieces."""

import torch
from torch import nn

from leanvoice.models.cfm import ConditionalFlowMatching, DiT
from leanvoice.models.cfm.embeddings import RotaryEmbedding, apply_rotary


class Recorder(nn.Module):
    """Predicts zero velocity and keeps what it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def forward(self, x, prompt, content, time, step, lengths, **_):
        self.calls.append({"x": x, "prompt": prompt, "time": time, "step": step})
        return torch.zeros_like(x)

    def embed_content(self, content, drop=False):
        return content.transpose(1, 2)


def test_loss_is_the_mean_of_per_sample_mse_after_each_prompt() -> None:
    mel = torch.randn(2, 100, 30)
    lengths, prompts = torch.tensor([30, 21]), torch.tensor([10, 4])
    cfm = ConditionalFlowMatching(100, Recorder())
    out = cfm(
        mel,
        lengths,
        prompts,
        torch.randn(2, 8, 30),
        generator=torch.Generator().manual_seed(0),
        bootstrap=False,
    )
    g = torch.Generator().manual_seed(0)
    t, x0 = torch.rand(2, generator=g), torch.randn(mel.shape, generator=g)
    target = mel - x0  # the stub predicts 0, so each error is the velocity itself
    expected = [target[i, :, prompts[i] : lengths[i]].pow(2).mean() for i in range(2)]
    torch.testing.assert_close(out["sample_losses"], torch.stack(expected))
    torch.testing.assert_close(out["loss"], torch.stack(expected).mean())
    assert out["target_frames"].tolist() == [20, 17]
    call = cfm.estimator.calls[0]
    assert torch.equal(call["time"], t) and (call["step"] == 0).all()
    assert (call["x"][0, :, :10] == 0).all() and (call["x"][0, :, 10:] != 0).all()
    assert torch.equal(call["prompt"][1, :, :4], mel[1, :, :4])
    assert (call["prompt"][1, :, 4:] == 0).all()


def test_bootstrap_runs_two_half_steps_and_tells_the_main_run_their_sum() -> None:
    cfm = ConditionalFlowMatching(100, Recorder())
    mel = torch.randn(4, 100, 12)
    cfm(mel, torch.full((4,), 12), torch.full((4,), 3), torch.randn(4, 8, 12), bootstrap=True)
    first, second, main = cfm.estimator.calls
    d = main["step"] / 2
    assert set(d.tolist()) <= {2.0**-k for k in range(2, 8)}
    shown = torch.where(d < 1e-2, 0.0, d)  # 1/128 is shown to the target runs as 0
    assert torch.equal(first["step"], shown) and torch.equal(second["step"], shown)
    assert torch.equal(second["time"], first["time"] + d)


def test_sampler_takes_euler_steps_from_time_zero() -> None:
    cfm = ConditionalFlowMatching(100, Recorder())
    cfm.sample(torch.randn(1, 8, 20), torch.tensor([20]), torch.rand(1, 100, 5), 4)
    times = [call["time"].item() for call in cfm.estimator.calls]
    assert times == [0.0, 0.25, 0.5, 0.75]
    assert all((call["step"] == 0.25).all() for call in cfm.estimator.calls)


def tiny_dit() -> DiT:
    torch.manual_seed(0)
    return DiT(
        dim=32, depth=2, heads=2, head_dim=16, ff_mult=2, mel_dim=100, text_dim=24, conv_layers=1
    ).eval()


def test_dit_reuses_a_cached_content_embedding_and_accepts_a_scalar_time() -> None:
    dit = tiny_dit()
    x, content = torch.randn(2, 100, 14), torch.randn(2, 24, 14)
    args = (x, torch.zeros_like(x), content)
    lengths = torch.tensor([14, 9])
    with torch.no_grad():
        plain = dit(*args, torch.tensor([0.4, 0.4]), torch.zeros(2), lengths)
        cached = dit(
            *args,
            torch.tensor(0.4),
            torch.zeros(2),
            lengths,
            content_embedding=dit.embed_content(content),
        )
    assert torch.equal(plain, cached)
    assert plain.shape == (2, 100, 14)


def test_rotary_positions_rotate_only_the_first_head_by_relative_position() -> None:
    """As the official (x_transformers on packed heads): head 0 gets positions, others not."""
    rotary = RotaryEmbedding(16)
    q = torch.randn(1, 1, 32).expand(1, 6, 32)  # the same vector at 6 positions
    k = torch.randn(1, 1, 32).expand(1, 6, 32)
    rq, rk = apply_rotary(q, rotary(6)), apply_rotary(k, rotary(6))
    assert torch.equal(rq[..., 16:], q[..., 16:])  # second head untouched
    scores = rq[0, :, :16] @ rk[0, :, :16].T  # (6, 6) first-head scores
    torch.testing.assert_close(torch.diagonal(scores, 1), torch.full((5,), scores[0, 1].item()))
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
