"""The style encoder (`ref_enc`) against recorded outputs of the official MelStyleEncoder
(tests/fixtures/reference/style_encoder_official.json, with its provenance): in train
mode the same seed must drop the same elements, so the attention dropout has to draw its
mask in the official (heads·batch) order."""

import json
from pathlib import Path

import pytest
import torch

from leanvoice.models.sovits.style import MelStyleEncoder

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reference" / "style_encoder_official.json"


def _recorded_setup() -> tuple[dict, MelStyleEncoder, torch.Tensor, torch.Tensor]:
    """The fixture's model and input, built by its recipe."""
    recorded = json.loads(FIXTURE.read_text())
    model = MelStyleEncoder(recorded["in_dim"], recorded["out_dim"], recorded["hidden"])
    generator = torch.Generator().manual_seed(recorded["weight_seed"])
    with torch.no_grad():
        for _, tensor in sorted(model.state_dict().items()):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * recorded["weight_scale"])
    lengths = torch.tensor(recorded["lengths"])
    frames = recorded["frames"]
    spec = torch.randn(len(lengths), recorded["in_dim"], frames, generator=generator)
    mask = (torch.arange(frames)[None] < lengths[:, None]).float()[:, None]
    return recorded, model, spec * mask, mask


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_style_encoder_equals_the_official_recording(mode: str) -> None:
    recorded, model, spec, mask = _recorded_setup()
    model.train(mode == "train")
    torch.manual_seed(recorded["dropout_seed"])
    out = model(spec, mask)
    assert out.shape == (2, recorded["out_dim"], 1)
    # measured: bit-identical on CPU; the (batch, heads) mask layout was 0.056 off
    torch.testing.assert_close(out.flatten(), torch.tensor(recorded[mode]), rtol=0, atol=1e-6)
