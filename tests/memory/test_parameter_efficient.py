import pytest
import torch

from leanvoice.config.sizes import GPTSize, load_size
from leanvoice.errors import ConfigError
from leanvoice.memory.freeze import freeze_groups
from leanvoice.memory.lora import apply_lora, merge_lora, trainable_parameters
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator


def _batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (2, 10), generator=g)
    y = torch.randint(0, 1024, (2, 12), generator=g)
    return x, torch.tensor([10, 8]), torch.randn(2, 32, 10, generator=g), y, torch.tensor([12, 9])


def _optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(
        t.nbytes for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t)
    )


def test_lora_on_v2_gpt_trains_under_5_percent() -> None:
    model = apply_lora(SemanticGPT(load_size("v2").gpt), rank=16, alpha=32)
    assert trainable_parameters(model) <= 0.05 * sum(p.numel() for p in model.parameters())


def test_lora_shrinks_gradient_and_optimizer_bytes_and_merges_exactly() -> None:
    torch.manual_seed(0)
    size = GPTSize(model_dim=64, num_heads=4, num_layers=4, ffn_dim=256, bert_dim=32)
    full = SemanticGPT(size).eval()
    adapted = apply_lora(SemanticGPT(size).eval(), rank=4, alpha=8)
    measured = {}
    for key, model in (("full", full), ("lora", adapted)):
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-2)
        model.loss(*_batch())[0].backward()
        grads = sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)
        optimizer.step()
        measured[key] = (grads, _optimizer_state_bytes(optimizer))
    assert measured["lora"][0] < 0.25 * measured["full"][0]
    assert measured["lora"][1] < 0.25 * measured["full"][1]
    # after a step the adapters are non-zero; merging must not change the outputs
    with torch.no_grad():
        before = adapted.teacher_forced_logits(*_batch())
        merged = merge_lora(adapted)
        after = merged.teacher_forced_logits(*_batch())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert set(merged.state_dict()) == set(SemanticGPT(size).state_dict())  # official names


def test_freeze_groups() -> None:
    gpt = SemanticGPT(load_size("tiny").gpt)
    sovits = SoVITSGenerator(load_size("tiny").sovits)
    sovits_trainable = sum(p.numel() for p in sovits.parameters() if p.requires_grad)
    frozen = freeze_groups({"gpt": gpt, "sovits": sovits}, ["sovits", "gpt.embeddings"])
    assert all(not p.requires_grad for p in sovits.parameters())
    assert not gpt.ar_text_embedding.word_embeddings.weight.requires_grad
    assert gpt.h.layers[0].linear1.weight.requires_grad
    assert frozen == sovits_trainable + sum(
        p.numel()
        for n, p in gpt.named_parameters()
        if n.startswith(("bert_proj", "ar_text_", "ar_audio_"))
    )
    assert freeze_groups({"gpt": gpt}, ["sovits"]) == 0  # the other stage's group is skipped
    with pytest.raises(ConfigError, match=r"unknown group .gpt\.embedding."):
        freeze_groups({"gpt": gpt}, ["gpt.embedding"])


def test_lora_on_sovits_text_encoder_trains_few_weights_and_merges_exactly() -> None:
    torch.manual_seed(0)
    size = load_size("tiny").sovits
    model = apply_lora(SoVITSGenerator(size).eval(), 4, 8)  # the text encoder's convs
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable_parameters(model) <= 0.1 * total
    assert all(
        n.startswith("enc_p.") and "lora_" in n
        for n, p in model.named_parameters()
        if p.requires_grad
    )
    g = torch.Generator().manual_seed(1)
    ssl = torch.randn(2, size.ssl_dim, 40, generator=g)
    spec = torch.rand(2, 1025, 40, generator=g)
    phonemes = torch.randint(0, 732, (2, 12), generator=g)

    def prior_mean(m):  # the text encoder's output
        lens = torch.tensor([40, 32]), torch.tensor([12, 9])
        out = m(ssl, spec, lens[0], phonemes, lens[1], generator=torch.Generator().manual_seed(3))
        return out["m_p"]

    prior_mean(model).pow(2).mean().backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    with torch.no_grad():
        before = prior_mean(model)
        merged = merge_lora(model)
        after = prior_mean(merged)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert set(merged.state_dict()) == set(SoVITSGenerator(size).state_dict())


def test_qlora_stores_frozen_ffn_in_4_bits_trains_adapters_and_merges() -> None:
    pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (dev extra)")
    torch.manual_seed(0)
    size = GPTSize(model_dim=64, num_heads=4, num_layers=2, ffn_dim=256, bert_dim=32)
    plain = SemanticGPT(size).named_parameters()
    ffn_bytes = sum(p.nbytes for n, p in plain if ".linear" in n and "weight" in n)
    model = apply_lora(SemanticGPT(size).eval(), 4, 8, quantize_base=True)
    stored = sum(
        p.untyped_storage().nbytes()
        for n, p in model.named_parameters()
        if ".linear" in n and "base_layer.weight" in n
    )
    assert stored <= 0.3 * ffn_bytes  # NF4: half a byte per weight
    model.loss(*_batch())[0].backward()
    updated = [n for n, p in model.named_parameters() if p.grad is not None]
    assert updated and all("lora_" in n for n in updated)
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    with torch.no_grad():
        before = model.teacher_forced_logits(*_batch())
        merged = merge_lora(model)
        after = merged.teacher_forced_logits(*_batch())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    assert set(merged.state_dict()) == set(SemanticGPT(size).state_dict())
