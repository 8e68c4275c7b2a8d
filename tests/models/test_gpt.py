import json
from pathlib import Path

import pytest
import torch

from leanvoice.config.sizes import GPTSize, load_size
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.gpt.sampling import SamplingConfig, generate, process_logits

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference"  # copied from shared/reference


def _official_state_dict(path: Path) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    entries = json.loads(path.read_text())
    return {
        key.removeprefix("model."): torch.randn(shape, generator=generator)
        for key, shape, _ in entries
    }


@pytest.fixture(scope="module")
def tiny() -> SemanticGPT:
    torch.manual_seed(0)
    return SemanticGPT(load_size("tiny").gpt)


def _batch(lengths_x, lengths_y, seed=0, bert_dim=32):  # tiny bert_dim
    g = torch.Generator().manual_seed(seed)
    tx, ty = max(lengths_x), max(lengths_y)
    x = torch.randint(0, 732, (len(lengths_x), tx), generator=g)
    y = torch.randint(0, 1024, (len(lengths_y), ty), generator=g)
    bert = torch.randn(len(lengths_x), bert_dim, tx, generator=g)
    return x, torch.tensor(lengths_x), bert, y, torch.tensor(lengths_y)


def test_v2_loads_the_official_state_dict_strictly() -> None:
    model = SemanticGPT(load_size("v2").gpt)
    model.load_state_dict(_official_state_dict(REFERENCE / "s1_v2_keys.json"), strict=True)
    assert sum(p.numel() for p in model.parameters()) == 77_606_402


def test_tiny_is_small_and_exposes_its_blocks(tiny: SemanticGPT) -> None:
    assert sum(p.numel() for p in tiny.parameters()) < 400_000
    names = tiny.block_names()["layers"]
    assert names == ["h.layers.0", "h.layers.1"]
    layers = [tiny.get_submodule(n) for n in names]
    assert [type(layer).__name__ for layer in layers] == ["TransformerLayer"] * 2
    assert layers[0] is not layers[1]


def test_logits_shape_and_targets(tiny: SemanticGPT) -> None:
    x, xl, bert, y, yl = _batch([7, 5], [6, 4])
    tiny.eval()
    logits = tiny.teacher_forced_logits(x, xl, bert, y, yl)
    assert logits.shape == (2, 7, 1025)
    targets = tiny.targets(y, yl)
    assert targets[1].tolist() == [*y[1, :4].tolist(), 1024, 1024, 1024]


def test_padding_does_not_change_a_samples_logits(tiny: SemanticGPT) -> None:
    """Right-padded phonemes are masked as right-padded: a sample's logits do not depend
    on the batch it is in (the official left-padding mask breaks this)."""
    tiny.eval()
    x, xl, bert, y, yl = _batch([9, 4], [8, 3])
    batched = tiny.teacher_forced_logits(x, xl, bert, y, yl)
    alone = tiny.teacher_forced_logits(x[1:, :4], xl[1:], bert[1:, :, :4], y[1:, :3], yl[1:])
    assert torch.allclose(batched[1, :4], alone[0], atol=1e-5)


def test_loss_without_padding_is_additive_over_samples(tiny: SemanticGPT) -> None:
    tiny.eval()
    x, xl, bert, y, yl = _batch([9, 4], [8, 3])
    both, _, tokens = tiny.loss(x, xl, bert, y, yl, count_padding=False)
    first, _, n1 = tiny.loss(x[:1], xl[:1], bert[:1], y[:1], yl[:1], count_padding=False)
    second, _, n2 = tiny.loss(
        x[1:, :4], xl[1:], bert[1:, :, :4], y[1:, :3], yl[1:], count_padding=False
    )
    assert torch.allclose(both, first + second, rtol=1e-5)
    assert tokens == n1 + n2 == 8 + 1 + 3 + 1
    official, accuracy, counted = tiny.loss(x, xl, bert, y, yl)
    assert counted == 2 * 9 and official > both  # pads predict EOS again
    assert accuracy is None  # computed only when asked for
    _, accuracy, _ = tiny.loss(x, xl, bert, y, yl, with_accuracy=True)
    assert 0.0 <= float(accuracy) <= 1.0


def test_dpo_loss_adds_a_positive_term(tiny: SemanticGPT) -> None:
    tiny.eval()
    x, xl, bert, y, yl = _batch([6, 6], [10, 10])
    torch.manual_seed(1)
    plain, _, _ = tiny.loss(x, xl, bert, y, yl)
    with_dpo, _, _ = tiny.loss(x, xl, bert, y, yl, dpo=True)
    assert with_dpo > plain
    with_dpo.backward()


def test_language_embedding_extension_changes_the_state_dict() -> None:
    model = SemanticGPT(load_size("tiny").gpt, num_languages=4)
    assert "language_embedding.weight" in model.state_dict()
    assert not model.official_compatible
    x, xl, bert, y, yl = _batch([5], [4])
    with pytest.raises(ValueError, match="language_ids"):
        model.loss(x, xl, bert, y, yl)
    loss, _, _ = model.loss(x, xl, bert, y, yl, language_ids=torch.zeros_like(x))
    assert torch.isfinite(loss)


def test_kv_cache_gives_the_same_greedy_tokens(tiny: SemanticGPT) -> None:
    tiny.eval()
    x, xl, bert, _, _ = _batch([12, 9, 5], [1, 1, 1], seed=3)
    prompt = torch.randint(0, 1024, (3, 4), generator=torch.Generator().manual_seed(4))
    cfg = SamplingConfig(top_k=1, max_new_tokens=40)
    cached = generate(tiny, x, xl, bert, prompt, cfg)
    uncached = generate(tiny, x, xl, bert, prompt, cfg, use_cache=False)
    assert all(torch.equal(a, b) for a, b in zip(cached, uncached, strict=True))
    assert all(len(a) > 0 for a in cached)


def test_a_lora_gpt_decodes_with_its_attention_adapters_and_leaves_the_base_as_it_was() -> None:
    """KV-cache decoding calls the attention's projections itself, so peft's adapters on
    nn.MultiheadAttention act only inside `attention_adapters_merged`: the tokens then
    equal the uncached ones and the merged model's, and the base weights come out
    unchanged; outside it the decoding refuses."""
    import copy

    from leanvoice.memory.lora import apply_lora, attention_adapters_merged, merge_lora

    torch.manual_seed(0)
    model = apply_lora(SemanticGPT(load_size("tiny").gpt), 4, 8.0).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)  # adapters that change the attention
    base = {k: v.clone() for k, v in model.named_parameters()}
    x, xl, bert, _, _ = _batch([12, 9], [1, 1], seed=3)
    prompt = torch.randint(0, 1024, (2, 4), generator=torch.Generator().manual_seed(4))
    cfg = SamplingConfig(top_k=1, max_new_tokens=30)
    with pytest.raises(RuntimeError, match="attention_adapters_merged"):
        generate(model, x, xl, bert, prompt, cfg)
    with attention_adapters_merged(model):  # the uncached steps also run peft's forward
        cached = generate(model, x, xl, bert, prompt, cfg)
        uncached = generate(model, x, xl, bert, prompt, cfg, use_cache=False)
    assert not any(m.merged for m in model.modules() if hasattr(m, "merged"))
    merged = generate(merge_lora(copy.deepcopy(model)), x, xl, bert, prompt, cfg)
    plain = generate(SemanticGPT(load_size("tiny").gpt).eval(), x, xl, bert, prompt, cfg)
    assert all(torch.equal(a, b) for a, b in zip(cached, uncached, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(cached, merged, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(cached, plain, strict=True))
    after = dict(model.named_parameters())
    changed = [k for k in base if not torch.equal(after[k], base[k])]
    assert after.keys() == base.keys() and not changed, changed


def test_sampling_is_seeded_and_stops_at_eos() -> None:
    torch.manual_seed(0)
    model = SemanticGPT(
        GPTSize(model_dim=16, num_heads=2, num_layers=1, ffn_dim=32, bert_dim=32)
    ).eval()
    # Forced logits through a bias, whatever the sign of the hidden state: code 7 wins
    # the first step (EOS is masked there), EOS wins every step after.
    head = torch.nn.Linear(16, model.ar_predict_layer.out_features, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[model.eos_id] = 30.0
        head.bias[7] = 20.0
    model.ar_predict_layer = head
    x, xl, bert, _, _ = _batch([5], [1])
    empty = torch.zeros(1, 0, dtype=torch.long)
    out = generate(model, x, xl, bert, empty, SamplingConfig(top_k=5, max_new_tokens=50))
    assert out[0].tolist() == [7]  # first step cannot be EOS, the second is
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    cfg = SamplingConfig(top_k=50, temperature=1.5, max_new_tokens=20)
    tiny = SemanticGPT(load_size("tiny").gpt).eval()
    a = generate(tiny, x, xl, bert, empty, cfg, generator=g1)
    b = generate(tiny, x, xl, bert, empty, cfg, generator=g2)
    assert torch.equal(a[0], b[0])


def test_logit_processing_top_k_top_p_and_repetition_penalty() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    probs = process_logits(logits, None, SamplingConfig(top_k=2, repetition_penalty=1.0))
    assert (probs[0, 2:] == 0).all() and probs[0, :2].sum() == pytest.approx(1.0)
    probs = process_logits(logits, None, SamplingConfig(top_k=0, top_p=0.5))
    assert probs[0, 0] == pytest.approx(1.0)
    penalised = process_logits(
        logits, torch.tensor([[0]]), SamplingConfig(top_k=0, repetition_penalty=2.0)
    )
    plain = process_logits(logits, None, SamplingConfig(top_k=0, repetition_penalty=1.0))
    assert penalised[0, 0] < plain[0, 0]


@pytest.mark.slow
def test_tiny_gpt_overfits_one_batch() -> None:
    torch.manual_seed(0)
    model = SemanticGPT(load_size("tiny").gpt)
    x, xl, bert, y, yl = _batch([20, 14, 9, 17], [40, 25, 31, 12], seed=7)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        loss, _, tokens = model.loss(x, xl, bert, y, yl, count_padding=False)
        optimizer.zero_grad()
        (loss / tokens).backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
