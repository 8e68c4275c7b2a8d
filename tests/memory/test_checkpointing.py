import torch

from leanvoice.config.sizes import GPTSize, load_size
from leanvoice.memory.accounting import SavedTensorMeter
from leanvoice.memory.checkpointing import apply_activation_checkpointing, select_blocks
from leanvoice.memory.report import StepMemory
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator


def test_policies_select_blocks() -> None:
    names = [f"b{i}" for i in range(6)]
    assert select_blocks("none", names) == []
    assert select_blocks("all", names) == names
    assert select_blocks("selective", names) == names
    assert select_blocks("every:2", names) == ["b1", "b3", "b5"]
    assert select_blocks("count:2", names) == ["b0", "b1"]


def _gpt_step(checkpoint_policy: str):
    torch.manual_seed(0)
    size = GPTSize(model_dim=64, num_heads=4, num_layers=4, ffn_dim=256, bert_dim=32)
    model = SemanticGPT(size).train()  # dropout on: recomputation must repeat its masks
    apply_activation_checkpointing(model, model.block_names(), checkpoint_policy)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (4, 30), generator=g)
    y = torch.randint(0, 1024, (4, 80), generator=g)
    bert = torch.randn(4, 32, 30, generator=g)
    xl, yl = torch.tensor([30, 25, 20, 28]), torch.tensor([80, 70, 60, 75])
    torch.manual_seed(2)
    with SavedTensorMeter(model.parameters()) as meter:
        loss, _, _ = model.loss(x, xl, bert, y, yl, count_padding=False)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return meter.activation_bytes, loss.item(), grads, model


def test_checkpointing_all_gpt_layers_cuts_saved_bytes_and_keeps_gradients() -> None:
    plain_bytes, plain_loss, plain_grads, _ = _gpt_step("none")
    ckpt_bytes, ckpt_loss, ckpt_grads, model = _gpt_step("all")
    assert ckpt_bytes <= 0.4 * plain_bytes  # at least a 60 % cut
    assert ckpt_loss == plain_loss
    for name, grad in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, rtol=1e-6, atol=1e-7)
    assert set(model.state_dict()) == set(SemanticGPT(model.size).state_dict())


def _sovits_step(policy: str):
    torch.manual_seed(0)
    size = load_size("tiny").sovits
    model = SoVITSGenerator(size).train()
    apply_activation_checkpointing(model, model.block_names(), policy)
    g = torch.Generator().manual_seed(1)
    ssl = torch.randn(2, size.ssl_dim, 80, generator=g)
    spec = torch.rand(2, 1025, 80, generator=g)
    phonemes = torch.randint(0, 732, (2, 20), generator=g)
    torch.manual_seed(2)
    with SavedTensorMeter(model.parameters()) as meter:
        out = model(
            ssl,
            spec,
            torch.tensor([80, 64]),
            phonemes,
            torch.tensor([20, 15]),
            generator=torch.Generator().manual_seed(3),
        )
        loss = out["wave"].pow(2).mean() + out["z_p"].pow(2).mean() + out["m_p"].pow(2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return meter.activation_bytes, grads


def test_checkpointing_sovits_blocks_cuts_saved_bytes_and_keeps_gradients() -> None:
    plain_bytes, plain_grads = _sovits_step("none")
    ckpt_bytes, ckpt_grads = _sovits_step("all")
    assert ckpt_bytes <= 0.6 * plain_bytes  # at least a 40 % cut
    for name, grad in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, rtol=1e-5, atol=1e-6)


def _gpt_peak(policy: str) -> tuple[int, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    size = GPTSize(model_dim=64, num_heads=4, num_layers=4, ffn_dim=256, bert_dim=32)
    model = SemanticGPT(size).train()
    apply_activation_checkpointing(model, model.block_names(), policy)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (8, 40), generator=g)
    y = torch.randint(0, 1024, (8, 120), generator=g)
    bert = torch.randn(8, 32, 40, generator=g)
    torch.manual_seed(2)
    probe = StepMemory(model, None)
    with probe:
        with probe.forward():
            loss, _, _ = model.loss(x, torch.full((8,), 40), bert, y, torch.full((8,), 120))
        loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return probe.report().peak_bytes, grads


def test_selective_checkpointing_peak_lies_between_none_and_all_with_equal_gradients() -> None:
    peaks, grads = {}, {}
    for policy in ("none", "selective", "all"):
        peaks[policy], grads[policy] = _gpt_peak(policy)
    assert peaks["all"] < peaks["selective"] < 0.8 * peaks["none"], peaks
    for name, grad in grads["none"].items():
        torch.testing.assert_close(grads["selective"][name], grad, rtol=1e-5, atol=1e-6)
