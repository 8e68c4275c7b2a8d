import torch
from torch import nn

from leanvoice.memory.accounting import SavedTensorMeter


def test_counts_saved_activations_once_and_parameters_apart() -> None:
    layer = nn.Linear(64, 32)
    x = torch.randn(8, 64, requires_grad=True)
    with SavedTensorMeter(layer.parameters()) as meter:
        y = layer(x)
        z = torch.tanh(y) * 2  # tanh saves its output (8 x 32 floats)
    assert meter.parameter_bytes_saved == layer.weight.nbytes
    assert meter.activation_bytes == x.nbytes + 8 * 32 * 4
    z.sum().backward()


def test_no_grad_saves_nothing() -> None:
    layer = nn.Linear(64, 32)
    with torch.no_grad(), SavedTensorMeter(layer.parameters()) as meter:
        layer(torch.randn(8, 64))
    assert meter.activation_bytes == 0
