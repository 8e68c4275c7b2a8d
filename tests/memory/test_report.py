import torch
from rich.console import Console
from torch import nn

from leanvoice.memory.report import StepMemory, format_bytes


def _measure(batch: int) -> tuple:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 512), nn.GELU(), nn.Linear(512, 256))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    probe = StepMemory(model, optimizer)
    with probe:
        with probe.forward():
            loss = model(torch.randn(batch, 256)).pow(2).mean()
        loss.backward()
        probe.after_backward()
        optimizer.step()
    return model, probe.report()


def test_report_counts_each_category_of_a_real_step() -> None:
    model, report = _measure(64)
    params = sum(p.nbytes for p in model.parameters())
    assert report.parameters_bytes == params
    assert report.gradients_bytes == params
    # AdamW: two moments per parameter plus a scalar step counter per tensor
    assert 2 * params <= report.optimizer_bytes <= 2 * params + 4 * 8 * 4
    # inputs of: Linear (256), GELU (512), second Linear (512), pow (256)
    assert report.activations_bytes == 4 * 64 * (256 + 512 + 512 + 256)
    assert report.peak_bytes >= params * 4 + report.activations_bytes  # params+grads+states
    assert report.device == "cpu" and report.peak_source == "live tensors"
    text = Console(width=120, record=True)
    text.print(report.table())
    rendered = text.export_text()
    assert "saved activations" in rendered and format_bytes(report.peak_bytes) in rendered


def test_peak_grows_with_the_batch() -> None:
    _, small = _measure(64)
    _, large = _measure(1024)
    growth = large.peak_bytes - small.peak_bytes
    assert growth >= large.activations_bytes - small.activations_bytes > 0
    assert small.parameters_bytes == large.parameters_bytes


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 1024**2) == "3.00 MiB"
    assert format_bytes(5 * 1024**3) == "5.00 GiB"
