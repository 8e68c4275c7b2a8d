"""Each memory technique alone and the preset combinations vs the official recipe's
settings, on v2 models at the same batch, as ratios.

    python -m bench.memory [gpt] [sovits] [--device cuda]   # prints, updates the docs
    python -m bench.memory sovits-v2Pro sovits-v2ProPlus [--memory-only]

The SoVITS versions v2Pro and v2ProPlus (stages `sovits-v2Pro`, `sovits-v2ProPlus`) run
on their official-size generator, with a random speaker embedding (B, 20480) in the
batch: the v2 cases but bf16 autocast alone and the scratch preset, plus the speaker
layers (`sv_emb`, `prelu`, `ge_to512`: the `sovits.speaker` group) frozen and the small
preset with 8-bit states (see `_cases`), and a table of the speaker layers' gradient and
optimizer-state bytes (`speaker_state_bytes`). `--memory-only` measures the bytes alone
(one round, the warm-up step and the measured one, no step time), for CPUs that emulate
bf16.

Each case runs in a process of its own (bench/isolate.py), three times, in interleaved
rounds; step time = the fastest of 4 timed steps over all rounds, on one CPU thread.

GPT batch: the 4 longest Mandarin demo clips (their real phoneme counts and 25 Hz code
lengths; random BERT features and codes, which do not change memory or time). SoVITS
batch: the 2 longest, at their real frame and phoneme counts (random SSL features and
waveform), generator losses (mel L1 + KL + commitment). CPU: the baseline runs fp32
(fp16 autocast needs CUDA). "sum" adds the measured categories (parameters + gradients +
optimizer states + tensors saved for backward); "peak" is the live-tensor peak of the
whole step measured by `StepMemory` (live tensors), which also sees the tensors
selective checkpointing keeps outside autograd's saved-tensor hooks.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.doc import write_results, write_section
from bench.isolate import run_case
from leanvoice.audio.spectrogram import linear_spectrogram, linear_to_log_mel, mel_filterbank
from leanvoice.config import load_config
from leanvoice.config.schema import MemoryConfig
from leanvoice.config.sizes import load_size
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list
from leanvoice.memory.optimizer_in_backward import OptimizerInBackward
from leanvoice.memory.optimizers import build_optimizer, resolve_auto
from leanvoice.memory.policy import apply_memory_policy
from leanvoice.memory.report import StepMemory, gradient_bytes
from leanvoice.models.gpt import SemanticGPT
from leanvoice.models.sovits import SoVITSGenerator
from leanvoice.models.sovits.losses import kl_divergence

OFFICIAL = MemoryConfig(checkpoint="none", precision="fp32", optimizer="adamw")
# the official recipe with the official code's attention (materialised scores, float
# masks) instead of our SDPA: what the official recipe itself needs on a GPU
OFFICIAL_ATTENTION = "official recipe, official attention"
SOVITS_CLIPS = 2  # the official SoVITS batch per 8 GB is small; 2 long clips
PRO_VERSIONS = ("v2Pro", "v2ProPlus")
STAGES = ("gpt", "sovits", *(f"sovits-{v}" for v in PRO_VERSIONS))
SPEAKER_FROZEN = ", speaker frozen"  # a case with memory.freeze=[sovits.speaker] (Pro)
THREADS = 1  # one thread per case: no idle spinning counted as CPU time, no core contention
ROUNDS = 3  # each case runs 3 times, interleaved with the others; its fastest round counts


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"


def split_stage(stage: str) -> tuple[str, str]:
    """`sovits-v2Pro` → ("sovits", "v2Pro"); `gpt`, `sovits` → (stage, "v2")."""
    model, _, version = stage.partition("-")
    return model, version or "v2"


def _cases(stage: str, device: str = "cpu") -> dict[str, MemoryConfig]:
    """On CUDA the official recipe runs fp16-mixed and the presets their own precision
    (auto: bf16 where the GPU has it); on CPU fp32 and bf16 (auto would be fp32 there).
    The official GPT optimizer is ScaledAdam; each technique row changes one setting of
    that recipe.

    Pro versions (v2Pro, v2ProPlus) keep the technique rows that run fp32 on a CPU and the
    small preset, and add the speaker layers frozen (`sovits.speaker`: 21.5 M parameters,
    `sv_emb` 21 M of them) and 8-bit states. They leave out bf16 autocast alone and the
    scratch preset (a many-GPU preset): bf16 is emulated on CPUs without native bf16 (one
    v2Pro step of the small preset took 160 s on an AMD EPYC, against 6 s in fp32), so
    each bf16 row costs minutes there."""
    stage, version = split_stage(stage)
    on_cpu = device == "cpu"
    official = OFFICIAL if on_cpu else replace(OFFICIAL, precision="fp16")
    if stage == "gpt":  # the official s1 recipe trains with ScaledAdam, s2 with AdamW
        official = replace(official, optimizer="scaled_adam")
    lora = replace(official.lora, rank=16, alpha=32.0)
    cases = {
        "official recipe (baseline)": official,
        **({OFFICIAL_ATTENTION: official} if stage == "gpt" else {}),
        "checkpoint all": replace(official, checkpoint="all"),
        "checkpoint selective": replace(official, checkpoint="selective"),
        "bf16 autocast": replace(official, precision="bf16"),
        "8-bit AdamW": replace(official, optimizer="adamw8bit"),
        "AdamW in backward": replace(official, optimizer="adamw_in_backward"),
        "LoRA r16": replace(official, lora=lora),
    }
    for preset in ("timbre", "small", "scratch"):
        cfg = load_config(preset).memory
        if stage == "sovits" and "sovits" in cfg.freeze:
            continue  # this preset does not train SoVITS
        cases[f"preset {preset}"] = replace(
            cfg, precision="bf16" if on_cpu else cfg.precision, freeze=[]
        )
    if version == "v2":
        return cases
    speaker = ["sovits.speaker"]
    small = cases["preset small"]
    del cases["bf16 autocast"], cases["preset scratch"]
    return {
        **cases,
        f"official recipe{SPEAKER_FROZEN}": replace(official, freeze=speaker),
        f"8-bit AdamW{SPEAKER_FROZEN}": replace(official, optimizer="adamw8bit", freeze=speaker),
        "preset small, 8-bit states": replace(small, optimizer="adamw8bit"),
        f"preset small, 8-bit states{SPEAKER_FROZEN}": replace(
            small, optimizer="adamw8bit", freeze=speaker
        ),
    }


def _demo_clips(tmp: Path) -> list[dict]:
    result = prepare_dataset(demo_corpus_list(), tmp, load_config())
    clips = [json.loads(x) for x in (result.out / "manifest.jsonl").read_text().splitlines()]
    return sorted((c for c in clips if c["language"] == "zh"), key=lambda c: -c["samples"])


def _gpt_batch(clips: list[dict]) -> tuple[torch.Tensor, ...]:
    clips = clips[:4]
    g = torch.Generator().manual_seed(0)
    x_lens = torch.tensor([len(c["phoneme_ids"]) for c in clips])
    y_lens = torch.tensor([c["frames"] // 2 for c in clips])
    x = _pad([c["phoneme_ids"] for c in clips])
    y = torch.randint(0, 1024, (len(clips), int(y_lens.max())), generator=g)
    bert = torch.randn(len(clips), 1024, x.shape[1], generator=g)
    return x, x_lens, bert, y, y_lens


def _sovits_batch(clips: list[dict], version: str = "v2") -> tuple[torch.Tensor, ...]:
    """(ssl, spec, frames, phonemes, phoneme_lens), and for a Pro version a random speaker
    embedding (B, sv_dim) last."""
    clips = clips[:SOVITS_CLIPS]
    size = load_size("v2", version).sovits
    g = torch.Generator().manual_seed(0)
    frames = torch.tensor([c["frames"] for c in clips])
    ssl = torch.randn(len(clips), size.ssl_dim, int(frames.max()), generator=g)
    wave = 0.1 * torch.randn(len(clips), int(frames.max()) * size.hop_length, generator=g)
    spec = linear_spectrogram(wave, size.n_fft, size.hop_length, size.win_length)
    phonemes = _pad([c["phoneme_ids"] for c in clips])
    phoneme_lens = torch.tensor([len(c["phoneme_ids"]) for c in clips])
    if size.sv_dim:
        sv = torch.randn(len(clips), size.sv_dim, generator=g)
        return ssl, spec, frames, phonemes, phoneme_lens, sv
    return ssl, spec, frames, phonemes, phoneme_lens


def _pad(rows: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.tensor(row)
    return out


def _model(
    stage: str, size_name: str = "v2", official_attention: bool = False, version: str = "v2"
) -> torch.nn.Module:
    size = load_size(size_name, version)
    if stage == "sovits":
        return SoVITSGenerator(size.sovits)
    model = SemanticGPT(size.gpt)
    model.use_official_attention(official_attention)
    return model


def _loss(
    stage: str,
    model: torch.nn.Module,
    batch: tuple[torch.Tensor, ...],
    size_name: str = "v2",
    version: str = "v2",
) -> torch.Tensor:
    """SoVITS batches of a Pro version carry the speaker embedding as a sixth tensor."""
    if stage == "gpt":
        return model.loss(*batch)[0]  # official: summed, padding counted
    size = load_size(size_name, version).sovits
    sv = batch[5] if len(batch) > 5 else None
    out = model(*batch[:5], generator=torch.Generator().manual_seed(1), sv=sv)
    with torch.autocast(out["wave"].device.type, enabled=False):  # spectra stay fp32
        fake = linear_to_log_mel(
            linear_spectrogram(out["wave"].float(), size.n_fft, size.hop_length, size.win_length),
            mel_filterbank(size.sample_rate, size.n_fft, size.n_mels),
        )
        kl = kl_divergence(*(out[k].float() for k in ("z_p", "logs_q", "m_p", "logs_p", "mask")))
    return 45 * fake.abs().mean() + kl + out["commit_loss"]


def _run(
    stage: str,
    policy: MemoryConfig,
    batch: tuple[torch.Tensor, ...],
    device: str = "cpu",
    with_memory: bool = True,
    *,
    size_name: str = "v2",
    official_attention: bool = False,  # GPT: materialised scores, as the official code
    compile_blocks: bool = False,  # train.compile
    version: str = "v2",  # SoVITS: v2, v2Pro or v2ProPlus
    timed_steps: int = 4,
) -> dict[str, float]:
    """Step time: CPU seconds of this process on CPU (other work on the machine barely
    moves them), synchronised wall seconds on CUDA; the wall time is kept either way. On
    CUDA the peak counts only what this call allocated (bytes live before it are
    subtracted). `timed_steps=0`: the warm-up and the measured step only, no step time
    (with_memory must be on)."""
    torch.manual_seed(0)
    on_cuda = torch.device(device).type == "cuda"
    before = torch.cuda.memory_allocated(device) if on_cuda else 0
    model = _model(stage, size_name, official_attention, version).to(device)
    setup = apply_memory_policy(model, stage, policy, device, compile_blocks=compile_blocks)
    if policy.optimizer == "auto":  # as the trainer does: resolved once, before building
        trainable = sum(p.numel() for p in setup.model.parameters() if p.requires_grad)
        policy = replace(policy, optimizer=resolve_auto(trainable, device)[0])
    optimizer = build_optimizer(setup.model.parameters(), policy.optimizer, 1e-4)
    model = setup.model.train()
    batch = tuple(t.to(device) for t in batch)
    in_backward = isinstance(optimizer, OptimizerInBackward)
    scaler = setup.precision.make_scaler() if not in_backward else None
    grad_peak = [0]
    if in_backward:
        optimizer.observers.append(
            lambda _p: grad_peak.__setitem__(0, max(grad_peak[0], gradient_bytes(model)))
        )
    probe = StepMemory(model, optimizer, device)
    times, walls = [], []
    for attempt in range(2 + timed_steps):  # 0 warms up (states appear), 1 measured, 2+ timed
        if on_cuda:
            torch.cuda.synchronize(device)
        start, wall = time.process_time(), time.perf_counter()
        measured = attempt == 1 and with_memory  # later rounds only time the step
        with probe if measured else contextlib.nullcontext():
            counting = probe.forward() if measured else contextlib.nullcontext()
            with counting, setup.precision.autocast():
                loss = _loss(stage, model, batch, size_name, version)
            (scaler.scale(loss.float()) if scaler else loss.float()).backward()
            if measured:
                probe.after_backward()
            if not in_backward:
                untraced = measured and policy.optimizer == "adamw8bit"
                with probe.untraced() if untraced else contextlib.nullcontext():
                    scaler.step(optimizer)
                    scaler.update()
                optimizer.zero_grad(set_to_none=True)
        if on_cuda:
            torch.cuda.synchronize(device)
        if attempt > 1:
            walls.append(time.perf_counter() - wall)
            times.append(walls[-1] if on_cuda else time.process_time() - start)
    timing = {"seconds": min(times), "wall_seconds": min(walls)} if times else {}
    if not with_memory:
        return timing
    report = probe.report()
    return {
        "parameters": report.parameters_bytes,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "gradients": max(report.gradients_bytes, grad_peak[0]),
        "optimizer": report.optimizer_bytes,
        "activations": report.activations_bytes,
        "peak": report.peak_bytes - before,
        **timing,
    }


def render(stage: str, results: dict[str, dict[str, float]], what: str, device: str = "cpu") -> str:
    """`stage`: gpt, sovits or sovits-VERSION. Pro tables add the trainable parameters;
    a run without step times (--memory-only) leaves the step × column out."""
    model, version = split_stage(stage)
    pro = version != "v2"
    timed = all("seconds" in r for r in results.values())
    base = results["official recipe (baseline)"]
    base_total = sum(base[k] for k in ("parameters", "gradients", "optimizer", "activations"))
    if device == "cpu":
        where = f"{platform.machine()} CPU ({cpu_model()}, {THREADS} thread)"
        peak = "live-tensor peak of the step"
        step = "CPU seconds of the step (process time, which other work barely moves)"
    else:
        where = f"{torch.cuda.get_device_name(torch.device(device))}, official recipe fp16-mixed"
        peak = "torch.cuda.max_memory_allocated over the step"
        step = "wall seconds of the step, synchronised"
    step_note = f"step × = {step}" if timed else "bytes only (--memory-only: no step time)"
    title = "GPT v2" if model == "gpt" else f"SoVITS {version}"
    columns = ["case", *(["trainable M"] if pro else []), "params", "grads", "optimizer"]
    columns += [
        "saved activations",
        "sum",
        "sum ×",
        "peak",
        "peak ×",
        *(["step ×"] if timed else []),
    ]
    lines = [
        f"{title}, {what}, {datetime.date.today()}, {where}, torch {torch.__version__}, "
        f"`python -m bench.memory{' ' + stage if pro else ''}`. MiB; ratios vs the baseline; "
        f"peak = {peak}; {step_note}.",
        "",
        f"| {' | '.join(columns)} |",
        "|---" * len(columns) + "|",
    ]
    for name, r in results.items():
        total = sum(r[k] for k in ("parameters", "gradients", "optimizer", "activations"))
        mib = [r[k] / 2**20 for k in ("parameters", "gradients", "optimizer", "activations")]
        cells = [name, *([f"{r['trainable_parameters'] / 1e6:.1f}"] if pro else [])]
        cells += [f"{m:.0f}" for m in mib]
        cells += [f"{total / 2**20:.0f}", f"{total / base_total:.2f}", f"{r['peak'] / 2**20:.0f}"]
        cells.append(f"{r['peak'] / base['peak']:.2f}")
        if timed:
            cells.append(f"{r['seconds'] / base['seconds']:.2f}")
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def measure_case(
    stage: str,
    case: str,
    clips_file: str,
    device: str = "cpu",
    with_memory: bool = True,
    timed_steps: int = 4,
) -> dict:
    """One case, from names and a file only (it runs in a process of its own)."""
    if device == "cpu":
        torch.set_num_threads(THREADS)
    model, version = split_stage(stage)
    clips = json.loads(Path(clips_file).read_text(encoding="utf-8"))
    batch = _gpt_batch(clips) if model == "gpt" else _sovits_batch(clips, version)
    return _run(
        model,
        _cases(stage, device)[case],
        batch,
        device,
        with_memory,
        official_attention=case == OFFICIAL_ATTENTION,
        version=version,
        timed_steps=timed_steps,
    )


def _measure_in_rounds(
    stage: str, clips_file: Path, device: str, memory_only: bool = False
) -> dict[str, dict]:
    """Every case in ROUNDS interleaved rounds (every other one in reverse order); a case's
    step time is its fastest over the rounds, its bytes (deterministic) those of the first
    round, the only one that measures them. A slow spell of the host then has to cover
    every round of a case to move its ratio. `memory_only`: one round of the warm-up and
    the measured step, no step time."""
    names = list(_cases(stage, device))
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(1 if memory_only else ROUNDS):
        for name in names if round_ % 2 == 0 else names[::-1]:
            found = run_case(
                "bench.memory",
                "measure_case",
                *(stage, name, str(clips_file), device, round_ == 0, 0 if memory_only else 4),
            )
            rounds[name].append(found)
            print(
                stage,
                name,
                {
                    k: round(v, 2)
                    if "seconds" in k
                    else round(v / (1e6 if "trainable" in k else 2**20))
                    for k, v in found.items()
                },
                flush=True,
            )
    if memory_only:
        return {name: found[0] for name, found in rounds.items()}
    return {
        name: {
            **found[0],
            "seconds": min(r["seconds"] for r in found),
            "wall_seconds": min(r["wall_seconds"] for r in found),
        }
        for name, found in rounds.items()
    }


SPEAKER_CASES = {
    "AdamW, speaker trainable": ("adamw", False),
    "AdamW, speaker frozen": ("adamw", True),
    "8-bit AdamW, speaker trainable": ("adamw8bit", False),
    "8-bit AdamW, speaker frozen": ("adamw8bit", True),
}


def speaker_state_bytes(version: str, device: str = "cpu") -> dict[str, dict[str, int]]:
    """What the speaker layers (`sovits.speaker`: sv_emb, prelu, ge_to512) cost in optimizer
    states at the official size: for AdamW and 8-bit AdamW, with the group trainable and
    frozen, the bytes of the optimizer states as built, measured after one step on random
    gradients (no forward: the states do not depend on the batch), and the speaker
    parameters' own share of them. Gradients: the bytes of the fp32 gradients the step
    had. In a process of its own (the caller's run_case)."""
    from leanvoice.memory.accounting import optimizer_state_bytes, tensor_storage_bytes
    from leanvoice.memory.freeze import group_parameters

    if device == "cpu":
        torch.set_num_threads(THREADS)
    found = {}
    for name, (kind, frozen) in SPEAKER_CASES.items():
        torch.manual_seed(0)
        model = _model("sovits", "v2", version=version).to(device)
        speaker = group_parameters(model, model.parameter_groups()["speaker"])
        setup = apply_memory_policy(
            model, "sovits", replace(OFFICIAL, freeze=["sovits.speaker"] if frozen else [])
        )
        optimizer = build_optimizer(setup.model.parameters(), kind, 1e-4)
        trainable = [p for p in model.parameters() if p.requires_grad]
        for parameter in trainable:
            parameter.grad = torch.randn_like(parameter)
        optimizer.step()
        own = {id(p) for _, p in speaker}
        speaker_states = sum(
            tensor_storage_bytes(value)
            for parameter, state in optimizer.state.items()
            if id(parameter) in own
            for value in state.values()
            if torch.is_tensor(value)
        )
        found[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "speaker_parameters": sum(p.numel() for _, p in speaker),
            "sv_emb_parameters": sum(p.numel() for n, p in speaker if n.startswith("sv_emb.")),
            "trainable_parameters": sum(p.numel() for p in trainable),
            "gradients": sum(tensor_storage_bytes(p.grad) for p in trainable),
            "optimizer": optimizer_state_bytes(optimizer),
            "speaker_optimizer": speaker_states,
        }
        del model, setup, optimizer, trainable
    return found


def render_speaker(version: str, found: dict[str, dict[str, int]], device: str = "cpu") -> str:
    first = next(iter(found.values()))
    base = found["AdamW, speaker trainable"]
    where = f"{platform.machine()} CPU ({cpu_model()})" if device == "cpu" else device
    if torch.device(device).type == "cuda":
        where = torch.cuda.get_device_name(torch.device(device))
    lines = [
        f"SoVITS {version} generator ({first['parameters'] / 1e6:.1f} M parameters; speaker "
        f"group {first['speaker_parameters'] / 1e6:.1f} M, of which sv_emb "
        f"{first['sv_emb_parameters'] / 1e6:.1f} M), {datetime.date.today()}, {where}, torch "
        f"{torch.__version__}, `python -m bench.memory sovits-{version}`: optimizer states as "
        "built, measured after one step on random gradients; gradients fp32. MiB; × vs AdamW "
        "with the speaker trainable.",
        "",
        "| optimizer, speaker layers | trainable M | grads | optimizer states | of which speaker "
        "| grads + states | × |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in found.items():
        total = r["gradients"] + r["optimizer"]
        base_total = base["gradients"] + base["optimizer"]
        lines.append(
            f"| {name} | {r['trainable_parameters'] / 1e6:.1f} | {r['gradients'] / 2**20:.0f} | "
            f"{r['optimizer'] / 2**20:.0f} | {r['speaker_optimizer'] / 2**20:.0f} | "
            f"{total / 2**20:.0f} | {total / base_total:.2f} |"
        )
    return "\n".join(lines)


def main(
    stages: tuple[str, ...] = ("gpt", "sovits"), device: str = "cpu", memory_only: bool = False
) -> None:
    """CPU results go to `memory-STAGE`, CUDA ones to `memory-STAGE-cuda` (results file and
    doc section), so that one run does not overwrite the other. Pro stages also get the
    speaker-layer table (`memory-sovits-VERSION-speaker`, see `speaker_state_bytes`)."""
    import tempfile

    suffix = "" if device == "cpu" else "-cuda"
    with tempfile.TemporaryDirectory() as tmp:
        clips = _demo_clips(Path(tmp))
        clips_file = Path(tmp) / "clips.json"
        clips_file.write_text(json.dumps(clips), encoding="utf-8")
        for stage in stages:
            model, version = split_stage(stage)
            batch = _gpt_batch(clips) if model == "gpt" else _sovits_batch(clips, version)
            if model == "gpt":
                what = f"{int(batch[1].sum() + batch[4].sum())} real tokens (4 demo clips)"
            else:
                what = f"{int(batch[2].sum())} frames ({SOVITS_CLIPS} demo clips), generator losses"
                if version != "v2":
                    what += f", random speaker embedding ({SOVITS_CLIPS}, {batch[5].shape[1]})"
            results = _measure_in_rounds(stage, clips_file, device, memory_only)
            table = render(stage, results, what, device)
            print(table)
            write_section(f"memory-{stage}{suffix}", table)
            record = {"batch": what, "device": device, "cases": results}
            if version != "v2":
                speaker = run_case("bench.memory", "speaker_state_bytes", version, device)
                record["speaker"] = speaker
                speaker_table = render_speaker(version, speaker, device)
                print(speaker_table)
                write_section(f"memory-{stage}-speaker{suffix}", speaker_table)
            write_results(f"memory-{stage}{suffix}", record)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "stages", nargs="*", help=f"any of {', '.join(STAGES)} (default: gpt sovits)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="bytes only: one round of the warm-up and the measured step, no step time",
    )
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here")
    if not set(args.stages) <= set(STAGES):
        parser.error(f"stages: choose from {', '.join(STAGES)}, not {' '.join(args.stages)}")
    main(tuple(args.stages or ("gpt", "sovits")), args.device, args.memory_only)
