import pytest
import torch

from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import GPTSize
from leanvoice.errors import ConfigError
from leanvoice.memory.accounting import SavedTensorMeter
from leanvoice.memory.offload import apply_activation_offload
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.gpt import SemanticGPT

SIZE = GPTSize(model_dim=64, num_heads=4, num_layers=4, ffn_dim=256, bert_dim=32)


def _step(offload: bool):
    torch.manual_seed(0)
    model = SemanticGPT(SIZE).train()
    if offload:
        apply_activation_offload(model, model.block_names()["layers"], pin_memory=False)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randint(0, 732, (4, 30), generator=g), torch.randint(0, 1024, (4, 60), generator=g)
    bert = torch.randn(4, 32, 30, generator=g)
    torch.manual_seed(2)
    with SavedTensorMeter(model.parameters()) as meter:
        loss, _, _ = model.loss(x, torch.full((4,), 30), bert, y, torch.full((4,), 60))
    loss.backward()
    return meter.activation_bytes, {n: p.grad for n, p in model.named_parameters()}


def test_offloaded_blocks_keep_nothing_in_device_saved_tensors_and_gradients_match() -> None:
    kept, grads = _step(offload=False)
    offloaded_kept, offloaded_grads = _step(offload=True)
    # what remains is outside the layers: embeddings, head, loss; on CUDA the rest is on host
    assert offloaded_kept < 0.3 * kept
    for name, grad in grads.items():
        torch.testing.assert_close(offloaded_grads[name], grad)


def test_policy_refuses_offload_without_a_gpu() -> None:
    with pytest.raises(ConfigError, match="offload_activations"):
        apply_memory_policy(SemanticGPT(SIZE), "gpt", MemoryConfig(offload_activations=True))
