"""The flow-matching SoVITS (v3/v4) on tiny sizes: training step, bootstrap target,
inference lengths, official key names, sizes read back from shapes."""

import json
from pathlib import Path

import pytest
import torch

from leanvoice.compat import sovits_from_official, sovits_to_official
from leanvoice.models.cfm import CFMSoVITS, cfm_size, size_from_state_dict

OFFICIAL_KEYS = (
    Path(__file__).parents[2] / "fixtures" / "reference" / "s2Gv4_keys.json"
)  # from the official SynthesizerTrnV3
SSL_FRAMES = 22  # collate pads SSL/spec to an even length past the longest clip


def tiny_model(version: str) -> CFMSoVITS:
    torch.manual_seed(0)
    model = CFMSoVITS(cfm_size("tiny", version))
    model.quantizer.vq.layers[0]._codebook.embed.normal_()  # distinct codes
    return model


def tiny_batch(version: str) -> dict[str, torch.Tensor]:
    """Two clips of 20 and 14 SSL frames (50 Hz) with mels at the version's frame rate."""
    g = torch.Generator().manual_seed(1)
    spec_lengths = torch.tensor([20, 14])
    if version == "v4":  # 100 Hz mels, 2 per SSL frame
        mel_lengths, mel_frames = torch.tensor([40, 28]), 44
    else:  # 93.75 Hz, 1.875 per SSL frame
        mel_lengths, mel_frames = torch.tensor([37, 26]), 41
    phoneme_lengths = torch.tensor([8, 5])
    mask = lambda lengths, frames: torch.arange(frames)[None, :] < lengths[:, None]  # noqa: E731
    return {
        "ssl": torch.randn(2, 64, SSL_FRAMES, generator=g),
        "spec": torch.rand(2, 1025, SSL_FRAMES, generator=g)
        * mask(spec_lengths, SSL_FRAMES)[:, None],
        "spec_lengths": spec_lengths,
        "mel": (torch.rand(2, 100, mel_frames, generator=g) * 2 - 1)
        * mask(mel_lengths, mel_frames)[:, None],
        "mel_lengths": mel_lengths,
        "phoneme_ids": torch.randint(0, 732, (2, 8), generator=g) * mask(phoneme_lengths, 8),
        "phoneme_lengths": phoneme_lengths,
    }


def run_step(model: CFMSoVITS, batch: dict, seed: int = 0, **options) -> dict:
    model.zero_grad()
    torch.manual_seed(seed)
    out = model(**batch, **options)
    out["loss"].backward()
    return out


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_training_step_gives_finite_loss_and_trains_only_bridge_wns1_and_cfm(version) -> None:
    model = tiny_model(version).train()
    out = run_step(model, tiny_batch(version), bootstrap=False)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    assert (out["prompt_lengths"] < tiny_batch(version)["mel_lengths"] * 2 / 3 + 1).all()
    trained = set(grads(model))
    expected = {
        n
        for n, _ in model.named_parameters()
        if n.startswith(("bridge.", "wns1.", "cfm.estimator."))
    }
    assert trained == expected  # enc_p, quantizer, ssl_proj frozen; ref_enc, linear_mel idle
    assert all(not p.requires_grad for p in model.enc_p.parameters())
    assert all(g.abs().sum() > 0 for n, g in grads(model).items() if "grn" not in n)


def test_bootstrap_target_without_autograd_gives_the_same_gradients() -> None:
    model = tiny_model("v4").train()
    batch = tiny_batch("v4")
    with_graph = run_step(model, batch, bootstrap=True)
    expected = grads(model)
    without = run_step(model, batch, bootstrap=True, bootstrap_no_grad=True)
    assert with_graph["bootstrapped"] and without["bootstrapped"]
    assert torch.equal(with_graph["loss"], without["loss"])
    got = grads(model)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[n], expected[n]) for n in expected)
    plain = run_step(model, batch, bootstrap=False)
    assert not torch.equal(plain["loss"], with_graph["loss"])  # the target did change


def test_bootstrap_target_without_autograd_saves_fewer_activations() -> None:
    model = tiny_model("v4").train()
    batch = tiny_batch("v4")

    def saved_bytes(no_grad: bool) -> int:
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            torch.manual_seed(0)
            model(**batch, bootstrap=True, bootstrap_no_grad=no_grad)
        return total

    assert saved_bytes(True) < 0.6 * saved_bytes(False)


@pytest.mark.parametrize(("version", "codes", "frames"), [("v4", 37, 148), ("v3", 37, 138)])
def test_decode_makes_the_version_frame_count_for_a_code_length(version, codes, frames) -> None:
    """v4: 4 mel frames per 25 Hz code; v3: floor(2 · 1.875) per code, as the official."""
    model = tiny_model(version).eval()
    g = torch.Generator().manual_seed(2)
    target = torch.randint(0, 1024, (1, codes), generator=g)
    prompt = torch.randint(0, 1024, (1, 12), generator=g)
    reference_mel = torch.rand(1, 100, 45, generator=g) * 2 - 1
    mel = model.decode(
        target,
        torch.randint(0, 732, (1, 9), generator=g),
        prompt,
        torch.randint(0, 732, (1, 4), generator=g),
        torch.rand(1, 1025, 24, generator=g),
        reference_mel,
        generator=torch.Generator().manual_seed(3),
    )
    assert mel.shape == (1, 100, frames)
    assert torch.isfinite(mel).all()


def test_decode_generates_long_targets_in_chunks_each_prompted_by_the_last() -> None:
    """A target longer than a chunk (v4: 1000 frames less the prompt) still gets every frame."""
    model = tiny_model("v4").eval()
    g = torch.Generator().manual_seed(4)
    args = (
        torch.randint(0, 1024, (1, 260), generator=g),  # 1040 frames: two chunks of 960
        torch.randint(0, 732, (1, 30), generator=g),
        torch.randint(0, 1024, (1, 10), generator=g),
        torch.randint(0, 732, (1, 4), generator=g),
        torch.rand(1, 1025, 20, generator=g),
        torch.rand(1, 100, 40, generator=g) * 2 - 1,
    )
    mel = model.decode(*args, steps=2, generator=torch.Generator().manual_seed(5))
    assert mel.shape == (1, 100, 1040)


def test_sampler_keeps_the_prompt_frames_zero_and_is_reproducible() -> None:
    model = tiny_model("v4").eval()
    content = torch.randn(1, 32, 30)
    prompt = torch.rand(1, 100, 12)
    lengths = torch.tensor([30])
    runs = [
        model.cfm.sample(content, lengths, prompt, 8, generator=torch.Generator().manual_seed(0))
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    assert (runs[0][:, :, :12] == 0).all() and (runs[0][:, :, 12:] != 0).all()


def test_state_dict_uses_official_names_and_round_trips() -> None:
    model = tiny_model("v4").eval()
    official = sovits_to_official(model.state_dict())
    for key in (
        "cfm.estimator.transformer_blocks.1.attn.to_out.0.weight",
        "cfm.estimator.rotary_embed.inv_freq",
        "cfm.estimator.text_embed.text_blocks.0.grn.gamma",
        "cfm.estimator.d_embed.time_mlp.2.bias",
        "cfm.estimator.input_embed.conv_pos_embed.conv1d.2.weight",
        "wns1.enc.cond_layer.weight_g",
        "bridge.0.weight",
        "linear_mel.weight",
        "quantizer.vq.layers.0._codebook.embed",
    ):
        assert key in official
    fresh = CFMSoVITS(cfm_size("tiny", "v4")).eval()
    fresh.load_state_dict(sovits_from_official(official), strict=True)
    x, content = torch.randn(1, 100, 16), torch.randn(1, 32, 16)
    call = (
        x,
        torch.zeros_like(x),
        content,
        torch.tensor([0.3]),
        torch.zeros(1),
        torch.tensor([16]),
    )
    with torch.no_grad():
        assert torch.equal(fresh.cfm.estimator(*call), model.cfm.estimator(*call))


def test_official_size_has_the_official_keys_shapes_and_parameter_count() -> None:
    with torch.device("meta"):
        model = CFMSoVITS(cfm_size("official", "v4"))
    assert sum(p.numel() for p in model.parameters()) == 382_821_064
    assert sum(p.numel() for p in model.cfm.parameters()) == 337_106_020
    ours = {k: list(v.shape) for k, v in sovits_to_official(model.state_dict()).items()}
    official = {key: shape for key, shape, _ in json.loads(OFFICIAL_KEYS.read_text())}
    assert ours == official
    assert size_from_state_dict(model.state_dict(), "v4") == cfm_size("official", "v4")


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_size_is_read_back_from_state_dict_shapes_in_either_key_form(version) -> None:
    state = CFMSoVITS(cfm_size("tiny", version)).state_dict()
    assert size_from_state_dict(state, version) == cfm_size("tiny", version)
    assert size_from_state_dict(sovits_to_official(state), version) == cfm_size("tiny", version)


def test_groups_cover_every_parameter_once_and_blocks_resolve() -> None:
    model = tiny_model("v4")
    groups = model.parameter_groups()
    owners = {
        name: [
            g for g, prefixes in groups.items() if name.startswith(tuple(p + "." for p in prefixes))
        ]
        for name, _ in model.named_parameters()
    }
    assert all(len(found) == 1 for found in owners.values()), owners
    blocks = model.block_names()
    assert blocks["dit_blocks"] == [
        "cfm.estimator.transformer_blocks.0",
        "cfm.estimator.transformer_blocks.1",
    ]
    for names in blocks.values():
        for name in names:
            model.get_submodule(name)
    attention = [n for n, _ in model.named_modules() if n.endswith(".attn.to_out.0")]
    assert len(attention) == 2 and model.lora_targets() == {
        "dit_blocks": ("to_q", "to_k", "to_v", "to_out.0")
    }


def test_official_lora_targets_and_checkpointed_dit_blocks_keep_the_step() -> None:
    """peft adapters on to_q/to_k/to_v/to_out.0 (the official v3/v4 LoRA trainer's), then
    each `dit_blocks` block checkpointed by name (dropout replayed): same loss, grads."""
    import peft
    from torch.utils.checkpoint import checkpoint

    batch = tiny_batch("v4")
    model = tiny_model("v4").train()
    config = peft.LoraConfig(
        r=4, lora_alpha=4, target_modules=list(model.lora_targets()["dit_blocks"])
    )
    peft.inject_adapter_in_model(config, model.cfm)
    adapted = [n for n, _ in model.cfm.named_parameters() if "lora_A" in n]
    assert len(adapted) == 4 * len(model.cfm.estimator.transformer_blocks)
    for name, parameter in model.cfm.named_parameters():
        parameter.requires_grad_("lora_" in name)
    plain = run_step(model, batch, bootstrap=True)
    expected = grads(model)
    assert any("lora_B" in n for n in expected) and not any(".base_layer." in n for n in expected)
    for name in model.block_names()["dit_blocks"]:
        block = model.get_submodule(name)
        forward = block.forward
        block.forward = lambda *a, f=forward: checkpoint(f, *a, use_reentrant=False)
    checkpointed = run_step(model, batch, bootstrap=True)
    assert torch.equal(checkpointed["loss"], plain["loss"])
    got = grads(model)
    assert got.keys() == expected.keys()
    assert all(torch.allclose(got[n], expected[n], rtol=1e-5, atol=1e-7) for n in expected)
