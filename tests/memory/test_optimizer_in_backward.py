import torch

from leanvoice.config.sizes import GPTSize
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.models.gpt import SemanticGPT


def _model() -> SemanticGPT:
    torch.manual_seed(0)
    size = GPTSize(model_dim=32, num_heads=2, num_layers=2, ffn_dim=64, bert_dim=16)
    return SemanticGPT(size).eval()  # no dropout: the two runs see identical maths


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (2, 12), generator=g)
    y = torch.randint(0, 1024, (2, 20), generator=g)
    return x, torch.tensor([12, 9]), torch.randn(2, 16, 12, generator=g), y, torch.tensor([20, 15])


def _live_grad_bytes(model: torch.nn.Module) -> int:
    return sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)


def _adamw(params):
    return torch.optim.AdamW(params, lr=1e-3, foreach=False)


def test_gradients_are_freed_as_they_are_used_and_weights_match_adamw() -> None:
    plain, fused = _model(), _model()
    optimizer = _adamw(list(plain.parameters()))
    in_backward = OptimizerInBackward(fused.parameters(), _adamw)
    peak = {"plain": 0, "in_backward": 0}

    def watch(model, key):
        return lambda _param: peak.__setitem__(key, max(peak[key], _live_grad_bytes(model)))

    in_backward.observers.append(watch(fused, "in_backward"))
    plain_hooks = [
        p.register_post_accumulate_grad_hook(watch(plain, "plain")) for p in plain.parameters()
    ]
    for _ in range(10):
        loss, _, _ = plain.loss(*_batch(), count_padding=False)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        fused.loss(*_batch(), count_padding=False)[0].backward()
    for hook in plain_hooks:
        hook.remove()
    largest = max(p.nbytes for p in fused.parameters())
    total = sum(p.nbytes for p in fused.parameters())
    assert peak["plain"] == total  # every gradient alive at the end of backward
    assert peak["in_backward"] <= 2 * largest
    assert peak["in_backward"] < 0.65 * total
    assert all(p.grad is None for p in fused.parameters())
    for a, b in zip(plain.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_state_round_trips() -> None:
    model = _model()
    wrapper = OptimizerInBackward(model.parameters(), _adamw)
    model.loss(*_batch())[0].backward()
    state = wrapper.state_dict()
    other = OptimizerInBackward(_model().parameters(), _adamw)
    other.load_state_dict(state)
    first = next(iter(other.optimizers.values())).state_dict()["state"][0]["exp_avg"]
    assert torch.equal(first, state["0"]["state"][0]["exp_avg"])
