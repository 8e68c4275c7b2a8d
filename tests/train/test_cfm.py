"""The v3/v4/v5 stage: the flow-matching SoVITS trains with the shared step."""

import math

import pytest
import torch

from leanvoice.config import load_config
from leanvoice.data.batch_cost import padded_cost
from leanvoice.data.sampler import BucketBatchSampler
from leanvoice.train import trainer_class
from leanvoice.train.cfm import CFMTrainer
from tests.tiny import TINY


def test_the_sovits_stage_of_v3_and_v4_is_the_flow_matching_one() -> None:
    for version, expected in (
        ("v4", "CFMTrainer"),
        ("v3", "CFMTrainer"),
        ("v5dev", "CFMTrainer"),
        ("v5turbo", "CFMTrainer"),
        ("v2Pro", "SoVITSTrainer"),
    ):
        cfg = load_config(overrides=[f"model.version={version}"])
        assert trainer_class("sovits", cfg).__name__ == expected


@pytest.mark.parametrize("version", ["v4", "v3", "v5turbo"])
def test_a_tiny_full_fine_tune_trains_every_unfrozen_part(featured_demo, tmp_path, version):
    cfg = load_config(overrides=[*TINY, f"model.version={version}", "train.max_steps=2"])
    trainer = CFMTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.setup()
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    result = trainer.train_step(trainer.sampler.global_batches(0)[:1])
    assert math.isfinite(result.loss) and result.grad_norms["generator"] > 0
    moved = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p)}
    # official: ssl_proj, the quantizer and the text encoder stay; the style encoder
    # gets no gradient (its output reaches only frozen or detached paths)
    assert not any(n.startswith(("enc_p.", "quantizer.", "ssl_proj.", "ref_enc.")) for n in moved)
    assert any(n.startswith("cfm.estimator.transformer_blocks.") for n in moved)
    assert any(n.startswith("wns1.") for n in moved) and any(n.startswith("bridge.") for n in moved)


def test_the_official_lora_recipe_trains_the_adapters_bridge_and_wns1_only(
    featured_demo, tmp_path
) -> None:
    overrides = ["model.version=v4", "memory.lora.rank=4", "memory.lora.alpha=4"]
    cfg = load_config(overrides=[*TINY, *overrides])
    trainer = CFMTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.setup()
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    adapters = {n for n in trainable if "lora_" in n}
    assert adapters and all(".attn." in n or "to_" in n for n in adapters)
    assert {n.split(".")[0] for n in trainable - adapters} == {"bridge", "wns1"}
    result = trainer.train_step(trainer.sampler.global_batches(0)[:1])
    assert math.isfinite(result.loss)


def test_qlora_quantizes_the_dit_attention_and_refuses_the_v2_sovits() -> None:
    pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (dev extra)")
    from leanvoice.config.schema import LoraConfig, MemoryConfig
    from leanvoice.config.sizes import load_size
    from leanvoice.errors import ConfigError
    from leanvoice.memory.policy import apply_memory_policy
    from leanvoice.models.cfm import CFMSoVITS, cfm_size
    from leanvoice.models.sovits import SoVITSGenerator

    policy = MemoryConfig(lora=LoraConfig(rank=4, alpha=4.0, quantize_base=True))
    model = apply_memory_policy(CFMSoVITS(cfm_size("tiny", "v4")), "sovits", policy).model
    quantized = [n for n, m in model.named_modules() if type(m).__name__ == "Linear4bit"]
    depth = model.size.dit_depth
    assert len(quantized) == 4 * depth  # to_q, to_k, to_v, to_out.0 of each DiT block
    assert all(".transformer_blocks." in n for n in quantized)
    with pytest.raises(ConfigError, match="convolutions"):
        apply_memory_policy(SoVITSGenerator(load_size("tiny").sovits), "sovits", policy)


@pytest.mark.parametrize(("version", "header"), [("v4", "04"), ("v5dev", "07")])
def test_a_lora_run_from_an_official_base_exports_the_file_the_official_loader_merges(
    featured_demo, tmp_path, version, header
) -> None:
    """Start from a full v4 file (as from s2Gv4.pth; v5dev: s2Gv5dev.pth), train
    adapters, export: the official path (pretrained + LoRA file, merged) gives the
    weights our merge gives, to the file's fp16."""
    from leanvoice.compat.cfm import export_cfm_full, load_official_cfm_lora
    from leanvoice.infer.export import export_checkpoint
    from leanvoice.infer.models import load_sovits
    from leanvoice.models.cfm import CFMSoVITS, cfm_size

    torch.manual_seed(3)
    base = tmp_path / "s2Gv4.pth"
    export_cfm_full(CFMSoVITS(cfm_size("tiny", version)), base, version=version)
    lora = ["memory.lora.rank=4", "memory.lora.alpha=8", f"model.sovits_init={base}"]
    steps = ["train.max_steps=2", "train.lr=1e-2"]  # updates well above the fp16 rounding
    cfg = load_config(overrides=[*TINY, f"model.version={version}", *steps, *lora])
    run = tmp_path / "run"
    CFMTrainer(cfg, featured_demo, run).train()
    exported = tmp_path / "voice.pth"
    assert f"LoRA file (rank 4, header {header})" in export_checkpoint(
        run / "checkpoints" / "best.pt", exported
    )
    assert exported.read_bytes()[:2] == header.encode()
    official = load_official_cfm_lora(base, exported).state_dict()
    ours = load_sovits(run / "checkpoints" / "best.pt").state_dict()
    from leanvoice.compat.cfm import load_official_cfm

    untrained = load_official_cfm(base)[0].state_dict()
    moved = [
        k for k in ours if ".to_q." in k and not torch.allclose(ours[k], untrained[k], atol=5e-3)
    ]
    assert moved  # the adapters changed the DiT: the comparison below means something
    assert official.keys() == ours.keys()
    for key, value in ours.items():
        assert torch.allclose(official[key].float(), value.float(), rtol=2e-3, atol=2e-3), key


@pytest.mark.parametrize(("version", "mel_per_frame"), [("v4", 2.0), ("v3", 1.875), ("v2", 1)])
def test_a_sovits_stage_costs_each_clip_in_its_own_frames(
    featured_demo, tmp_path, version, mel_per_frame
):
    """v3/v4: mel frames (v4 100 Hz, v3 93.75 Hz); v2: its 50 Hz frames, unchanged."""
    cfg = load_config(overrides=[*TINY, f"model.version={version}"])
    trainer = trainer_class("sovits", cfg)(cfg, featured_demo, tmp_path / "run")
    clips = trainer.load_clips(featured_demo)
    assert clips.lengths == [int(c.frames * mel_per_frame) for c in clips.clips]


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_a_mel_frame_limit_bounds_the_batches_the_model_sees(featured_demo, tmp_path, version):
    """Under data.max_frames=1000 every batch of several clips holds at most 1000 padded
    mel frames, counted on the collated tensors; the step reports mel frames. Limiting
    the 50 Hz frames instead would let this data form batches of up to 2000."""
    limit = 1000
    cfg = load_config(overrides=[*TINY, f"model.version={version}", f"data.max_frames={limit}"])
    trainer = CFMTrainer(cfg, featured_demo, tmp_path / "run")
    trainer.setup()
    batches = trainer.sampler.global_batches(0)
    shared = [b for b in batches if len(b) > 1]
    assert shared, "the check needs batches of several clips"
    for part in batches:
        batch = trainer.collate(part)
        mel_lengths = batch["mel_lengths"].tolist()
        costs = [trainer.clips.lengths[i] for i in part]
        # collate cuts a clip to its SSL frames: at most one 50 Hz frame below its cost
        assert all(0 <= cost - mel <= 2 for cost, mel in zip(costs, mel_lengths, strict=True))
        assert batch["mel"].shape[-1] >= max(mel_lengths)  # the frames are in the tensor
        if len(part) > 1:
            assert len(part) * max(mel_lengths) <= limit
    assert max(padded_cost(b, trainer.clips.lengths) for b in shared) > limit / 2
    mel_lengths = trainer.collate(batches[0])["mel_lengths"]
    result = trainer.train_step([batches[0]])
    assert (result.real, result.padded) == (
        int(mel_lengths.sum()),
        len(mel_lengths) * int(mel_lengths.max()),
    )
    # the same limit in 50 Hz frames: some batch would hold more mel frames than it
    frames = [clip.frames for clip in trainer.clips.clips]
    old_unit = BucketBatchSampler(frames, limit, seed=cfg.train.seed, num_buckets=cfg.train.buckets)
    assert max(padded_cost(b, trainer.clips.lengths) for b in old_unit.global_batches(0)) > limit
