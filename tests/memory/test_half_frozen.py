"""memory.half_frozen: frozen weights in fp16 where exact, the same training under autocast."""

import json
from pathlib import Path

import pytest
import torch

from bench.cfm_memory import clip_batch
from leanvoice.config import load_config
from leanvoice.config.schema import LoraConfig, MemoryConfig
from leanvoice.config.sizes import load_size
from leanvoice.memory.half_frozen import full_precision, half_modules
from leanvoice.memory.optimizers import build_optimizer
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.models.cfm import CFMSoVITS, cfm_size
from leanvoice.models.gpt import SemanticGPT
from tests.tiny import TINY

LORA = LoraConfig(rank=4, alpha=4.0)


def _fp16_exact(model: torch.nn.Module) -> torch.nn.Module:
    """Every weight rounded to fp16, as the official files hold them."""
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(tensor.half().float())
    return model


def _cfm(half: bool, precision: str = "bf16") -> CFMSoVITS:
    torch.manual_seed(0)
    model = _fp16_exact(CFMSoVITS(cfm_size("tiny", "v4")))
    policy = MemoryConfig(lora=LORA, precision=precision, optimizer="adamw", half_frozen=half)
    setup = apply_memory_policy(model, "sovits", policy)
    return setup.model.train(), setup


def test_the_frozen_dit_is_stored_in_fp16_and_the_rest_is_not() -> None:
    model, setup = _cfm(half=True)
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    assert dtypes["cfm.estimator.transformer_blocks.0.attn.to_q.base_layer.weight"] == torch.float16
    assert dtypes["cfm.estimator.transformer_blocks.0.ff.ff.0.0.weight"] == torch.float16
    # trainable: the adapters stay fp32
    assert dtypes["cfm.estimator.transformer_blocks.0.attn.to_q.lora_A.default.weight"] == (
        torch.float32
    )
    # the encoders before `bridge` run in fp32 under autocast (full_precision_groups)
    assert all(dtype == torch.float32 for n, dtype in dtypes.items() if n.startswith("enc_p."))
    half = sum(p.numel() for p in model.parameters() if p.dtype == torch.float16)
    assert half == setup.half_frozen_parameters > 0


def test_weights_fp16_cannot_hold_exactly_and_fp32_training_are_left_alone() -> None:
    torch.manual_seed(0)
    model = CFMSoVITS(cfm_size("tiny", "v4"))  # fresh fp32 weights: not exact in fp16
    policy = MemoryConfig(lora=LORA, precision="bf16", half_frozen=True)
    assert apply_memory_policy(model, "sovits", policy).half_frozen_parameters == 0
    _, setup = _cfm(half=True, precision="fp32")  # no autocast: nothing would cast them
    assert setup.half_frozen_parameters == 0


def test_training_under_bf16_is_bit_for_bit_the_same() -> None:
    """Autocast reads the fp16 weight as bf16 where it read the fp32 one: same values."""
    batch = clip_batch(2.0, "tiny", "cpu")
    runs = []
    for half in (False, True):
        model, setup = _cfm(half)
        optimizer = build_optimizer(model.parameters(), "adamw", 1e-2)
        losses = []
        for step in range(3):
            g = torch.Generator().manual_seed(step)
            with setup.precision.autocast():
                loss = model(**batch, generator=g, bootstrap=step == 1)["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        runs.append((losses, trained))
    (losses, trained), (half_losses, half_trained) = runs
    assert losses == half_losses
    assert trained.keys() == half_trained.keys()
    assert all(torch.equal(trained[n], half_trained[n]) for n in trained)


def test_the_state_dict_holds_the_exact_weights_and_loads_both_ways() -> None:
    plain, _ = _cfm(half=False)
    half, _ = _cfm(half=True)
    a, b = plain.state_dict(), half.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k].float()) for k in a)
    half.load_state_dict(a)  # resume: fp32 values into the fp16 storage
    plain.load_state_dict(b)  # synthesis: the fp16 values into an fp32 model
    assert all(torch.equal(plain.state_dict()[k], a[k]) for k in a)


def test_full_precision_runs_the_half_model_in_fp32_without_gradients() -> None:
    """The held-out evaluation's fp32 forward: the same output as the fp32 model, each
    module widened only while it runs."""
    batch = clip_batch(2.0, "tiny", "cpu")
    plain, _ = _cfm(half=False)
    half, _ = _cfm(half=True)
    outputs = []
    for model in (plain, half):
        model.eval()
        with torch.no_grad(), full_precision(model):
            g = torch.Generator().manual_seed(0)
            outputs.append(model(**batch, generator=g, bootstrap=False)["loss"])
    assert torch.equal(*outputs)
    assert all(m.weight.dtype == torch.float16 for m in half_modules(half))
    with pytest.raises(RuntimeError, match="without gradients"), full_precision(half):
        half(**batch, bootstrap=False)


def test_a_lora_gpt_stores_its_frozen_layers_in_fp16() -> None:
    torch.manual_seed(0)
    model = _fp16_exact(SemanticGPT(load_size("tiny").gpt))
    policy = MemoryConfig(lora=LORA, precision="bf16", half_frozen=True)
    setup = apply_memory_policy(model, "gpt", policy)
    frozen = sum(p.numel() for p in setup.model.parameters() if not p.requires_grad)
    assert 0 < setup.half_frozen_parameters <= frozen


def test_a_lora_run_with_half_frozen_weights_evaluates_as_one_without(
    featured_demo, tmp_path, capsys
) -> None:
    """Two steps of the official v4 LoRA recipe from an fp16 base, bf16 on this CPU,
    with held-out clips: the same losses and held-out figures with and without."""
    from leanvoice.compat.cfm import export_cfm_full
    from leanvoice.train.cfm import CFMTrainer

    torch.manual_seed(3)
    base = tmp_path / "s2Gv4.pth"
    export_cfm_full(CFMSoVITS(cfm_size("tiny", "v4")), base, version="v4")
    common = [*TINY, "model.version=v4", f"model.sovits_init={base}", "memory.precision=bf16"]
    common += ["memory.lora.rank=4", "memory.lora.alpha=4", "train.max_steps=2"]
    common += ["data.valid_fraction=0.2", "train.eval_every=1"]
    lines = []
    for half in (False, True):
        cfg = load_config(overrides=[*common, f"memory.half_frozen={str(half).lower()}"])
        run = tmp_path / f"run-{half}"
        CFMTrainer(cfg, featured_demo, run).train()
        metrics = [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines()]
        lines.append([(m.get("loss"), m.get("valid_loss")) for m in metrics])
    assert lines[0] == lines[1]
    assert "memory.half_frozen: " in capsys.readouterr().err  # the log says how many
    assert any(valid is not None for _, valid in lines[1])


def test_a_gpt_lora_run_trains_the_same_with_half_frozen_weights(featured_demo, tmp_path):
    """The GPT's frozen FFN base layers in fp16 (its attention is peft's own wrapper of
    nn.MultiheadAttention, left as it is): the same losses under bf16."""
    from leanvoice.compat import export_gpt
    from leanvoice.train.gpt import GPTTrainer

    torch.manual_seed(0)
    init = tmp_path / "s1.ckpt"
    export_gpt(SemanticGPT(load_size("tiny").gpt), init)  # fp16, as the official files
    common = [*TINY, f"model.gpt_init={init}", "memory.precision=bf16", "memory.lora.rank=4"]
    common += ["train.max_steps=3", "train.audition_every=3"]  # the audition runs in fp32
    losses = []
    for half in (False, True):
        cfg = load_config(overrides=[*common, f"memory.half_frozen={str(half).lower()}"])
        run = tmp_path / f"run-{half}"
        trainer = GPTTrainer(cfg, featured_demo, run)
        trainer.train()
        if half:
            assert half_modules(trainer.model)
        metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        losses.append([m.get("loss") for m in metrics])
    assert losses[0] == losses[1]


def test_full_precision_narrows_again_after_a_forward_that_raised() -> None:
    half, _ = _cfm(half=True)
    half.eval()
    modules = half_modules(half)
    with pytest.raises(RuntimeError), torch.no_grad(), full_precision(half):
        modules[0](torch.zeros(1, 3))  # a wrong width: the module's own forward raises
    assert all(m.weight.dtype == torch.float16 for m in modules)
