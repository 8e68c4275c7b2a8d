"""SDPA with a boolean mask vs the official style (float −inf mask + stored probabilities).

Measured without dropout: on CPU, attention dropout sends SDPA to its math path, which
stores the probabilities too (ratio 1.0 in train mode); the fused CUDA kernels keep
dropout inside the kernel, which is where the saving matters.
"""

import torch

from leanvoice.config.sizes import GPTSize
from leanvoice.memory.accounting import SavedTensorMeter
from leanvoice.models.gpt import SemanticGPT


def _step(model):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 732, (4, 40), generator=g)
    y = torch.randint(0, 1024, (4, 120), generator=g)
    bert = torch.randn(4, 32, 40, generator=g)
    with SavedTensorMeter(model.parameters()) as meter:
        logits = model.teacher_forced_logits(
            x, torch.tensor([40, 30, 35, 20]), bert, y, torch.tensor([120, 90, 100, 60])
        )
    return meter.activation_bytes, logits


def test_sdpa_keeps_fewer_bytes_than_the_official_attention_with_equal_outputs():
    torch.manual_seed(0)
    size = GPTSize(model_dim=64, num_heads=8, num_layers=2, ffn_dim=256, bert_dim=32)
    model = SemanticGPT(size).eval()
    sdpa_bytes, sdpa_logits = _step(model)
    model.use_official_attention()  # materialised scores and float masks, as official
    official_bytes, official_logits = _step(model)
    print(f"SDPA / materialised saved bytes: {sdpa_bytes / official_bytes:.2f}")
    assert sdpa_bytes < 0.8 * official_bytes
    torch.testing.assert_close(sdpa_logits, official_logits, rtol=1e-5, atol=1e-5)
