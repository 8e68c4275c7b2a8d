"""Train the tiny pretrained bases that `leanvoice demo` fine-tunes (maintainers only;
needs Debian's espeak-ng).

    python scripts/make_tiny_bases.py /tmp/bases-work src/leanvoice/demo_data/bases \
        --gpt-steps 3000 --sovits-steps 6000

Real users never train SoVITS from random weights: they fine-tune the official pretrained
bases. The demo does the same with tiny bases made here: ten espeak-ng voices (the demo
speakers' two among them, reading other sentences) read seeded template sentences in
Mandarin and English; the corpus goes through the real prepare → features (a tiny HuBERT
distilled to carry speech content, a tiny random BERT, a k-means SoVITS codebook) → GPT
and SoVITS training; the bases are written in the official formats beside the feature
models they were trained with, and `provenance.json` says how. The work folder keeps the
corpus and runs; re-running resumes the runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_demo_corpus import speak, write  # the same espeak-ng call

# A hand-laid table: espeak-ng voice variant, pitch and speed per speaker and language.
SPEAKERS = {
    "f1": (["-v", "cmn+f1", "-p", "70", "-s", "145"], ["-v", "en-us+f1", "-p", "70", "-s", "150"]),
    "f2": (["-v", "cmn+f2", "-p", "55", "-s", "155"], ["-v", "en-gb+f2", "-p", "55", "-s", "160"]),
    "f4": (["-v", "cmn+f4", "-p", "75", "-s", "135"], ["-v", "en-us+f4", "-p", "75", "-s", "140"]),
    "f5": (["-v", "cmn+f5", "-p", "60", "-s", "160"], ["-v", "en-gb+f5", "-p", "60", "-s", "165"]),
    "m1": (["-v", "cmn+m1", "-p", "30", "-s", "150"], ["-v", "en-us+m1", "-p", "30", "-s", "150"]),
    "m2": (["-v", "cmn+m2", "-p", "45", "-s", "140"], ["-v", "en-gb+m2", "-p", "45", "-s", "145"]),
    "m4": (["-v", "cmn+m4", "-p", "25", "-s", "160"], ["-v", "en-us+m4", "-p", "25", "-s", "160"]),
    "m5": (["-v", "cmn+m5", "-p", "40", "-s", "135"], ["-v", "en-gb+m5", "-p", "40", "-s", "140"]),
    "f3": (["-v", "cmn+f3", "-p", "65", "-s", "150"], ["-v", "en-us+f3", "-p", "65", "-s", "155"]),
    "m3": (["-v", "cmn+m3", "-p", "35", "-s", "140"], ["-v", "en-gb+m3", "-p", "35", "-s", "145"]),
}  # fmt: skip
# f3 and m3 are the demo speakers' voices, reading other sentences than theirs: a base of
# eight voices does not carry over to a voice it never heard (measured: its posterior
# reconstruction of the demo clips was 0-18 % voiced, of its own voices' about 65 %),
# where the official bases heard thousands. The other voices also read the demo corpus's
# sentences, so every character the demo speaks is in the tiny BERT and the GPT.
DEMO_VOICES = ("f3", "m3")
ZH_SUBJECTS = [
    "我",
    "你",
    "他",
    "她",
    "我们",
    "你们",
    "他们",
    "老师",
    "小明",
    "妈妈",
    "爸爸",
    "我的朋友",
    "这个孩子",
    "邻居",
    "医生",
    "同学们",
]
ZH_TIMES = [
    "今天",
    "明天",
    "昨天晚上",
    "每天早上",
    "下个星期",
    "周末",
    "现在",
    "中午",
    "春天",
    "晚上",
    "刚才",
    "以后",
]
ZH_ACTIONS = [
    "去公园散步",
    "在家看书",
    "喝一杯热茶",
    "吃妈妈做的饺子",
    "去北京出差",
    "学习新的语言",
    "坐火车回家",
    "在图书馆写作业",
    "唱一首好听的歌",
    "打扫房间",
    "买新鲜的水果",
    "给朋友打电话",
    "看一部电影",
    "去医院检查身体",
    "在河边钓鱼",
    "做一顿丰富的晚饭",
    "骑自行车上班",
    "听音乐休息",
    "去海边旅行",
    "种花和草",
]
ZH_ENDINGS = ["。", "吧。", "！", "吗？", "，天气很好。", "，非常开心。", "，真不错。"]
EN_SUBJECTS = [
    "I",
    "You",
    "He",
    "She",
    "We",
    "They",
    "My sister",
    "Our teacher",
    "The old man",
    "A young girl",
    "The doctor",
    "My neighbour",
    "The children",
]
EN_ACTIONS = [
    "walked along the quiet river",
    "read a long story",
    "drank a cup of tea",
    "cooked dinner for the family",
    "took the early train",
    "learned a new song",
    "painted the garden fence",
    "called an old friend",
    "watched the evening news",
    "visited the city museum",
    "planted flowers in the yard",
    "wrote a short letter",
    "played the piano",
    "cleaned the kitchen",
    "fixed the broken bicycle",
    "bought fresh bread",
    "climbed the green hill",
    "waited for the bus",
]
EN_TIMES = [
    "today",
    "this morning",
    "last night",
    "every weekend",
    "after lunch",
    "in the evening",
    "on Tuesday",
    "before sunrise",
    "all afternoon",
    "yesterday",
]
EN_ENDINGS = [".", "!", ", and it was lovely.", ", as usual.", " again."]


def sentences(language: str, count: int, rng: random.Random) -> list[str]:
    """`count` distinct template sentences: varied enough to cover the phonemes the demo
    speaks, deterministic for a seed."""
    made: set[str] = set()
    while len(made) < count:
        if language == "zh":
            made.add(
                rng.choice(ZH_TIMES)
                + rng.choice(ZH_SUBJECTS)
                + rng.choice(ZH_ACTIONS)
                + rng.choice(ZH_ENDINGS)
            )
        else:
            made.add(
                f"{rng.choice(EN_SUBJECTS)} {rng.choice(EN_ACTIONS)} {rng.choice(EN_TIMES)}"
                f"{rng.choice(EN_ENDINGS)}"
            )
    return sorted(made)


def make_corpus(work: Path, per_language: int, extra: dict[str, list[str]], seed: int) -> Path:
    """Each speaker reads `per_language` sentences per language; the voices other than
    the demo's also read the `extra` ones (the demo corpus's sentences)."""
    listing = work / "corpus" / "bases.list"
    if listing.is_file():
        return listing
    wavs = work / "corpus" / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = []
    for speaker, voices in SPEAKERS.items():
        for language, voice in zip(("zh", "en"), voices, strict=True):
            texts = sentences(language, per_language, rng)
            if speaker not in DEMO_VOICES:
                texts += extra.get(language, [])
            for i, text in enumerate(texts):
                name = f"{speaker}_{language}_{i:03d}.flac"
                write(wavs / name, 0.7 * speak(text, voice))
                lines.append(f"wavs/{name}|{speaker}|{language}|{text}")
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return listing


def make_feature_models(root: Path, prepared: Path, args: argparse.Namespace) -> list[float]:
    """The tiny HuBERT, distilled to carry speech content; the SoVITS codebook, k-means
    of its features with `--codes` distinct codes; the tiny BERT, whose vocabulary is the
    corpus's characters and the demo's sentences'. With `--init-from`: those of the
    earlier bases, as they are."""
    from leanvoice.audio.io import load_audio
    from leanvoice.data.manifest import read_manifest
    from leanvoice.demo import SENTENCES
    from leanvoice.features.setup import write_tiny_sovits
    from leanvoice.features.ssl import SSL_SAMPLE_RATE, SSLExtractor
    from leanvoice.features.tiny import build_tiny_bert, build_tiny_hubert, distil_tiny_hubert

    record = root / "hubert" / "distilled.json"
    if args.init_from and not record.is_file():
        for part in ("hubert", "bert"):
            shutil.copytree(args.init_from / part, root / part, dirs_exist_ok=True)
        shutil.copy(args.init_from / "sovits.pth", root / "sovits.pth")  # its codebook
    if record.is_file():
        return json.loads(record.read_text())["losses"]
    clips = read_manifest(prepared)
    wavs = [prepared / clip.wav for clip in clips]
    waves = []
    for wav in wavs:
        waves.append(load_audio(wav, SSL_SAMPLE_RATE).samples)
    build_tiny_hubert(root / "hubert")
    losses = distil_tiny_hubert(root / "hubert", waves, steps=args.hubert_steps, seed=args.seed)
    codebook_wavs = random.Random(args.seed).sample(wavs, min(len(wavs), 240))
    write_tiny_sovits(root / "sovits.pth", SSLExtractor(root / "hubert"), codebook_wavs, args.codes)
    text = "".join(clip.normalized_text for clip in clips) + "".join(SENTENCES.values())
    build_tiny_bert(root / "bert", text)
    record.write_text(json.dumps({"steps": args.hubert_steps, "losses": losses}) + "\n")
    return losses


def train(stage: str, prepared: Path, run: Path, steps: int, lr: float, extra: list[str]):
    """One stage for `steps` (a re-run resumes from the run's last checkpoint); its
    summary, the earlier one when the run had already reached `steps`."""
    from leanvoice.config import load_config
    from leanvoice.train import train_stage

    cfg = load_config(
        overrides=[
            "model.size=tiny",
            f"train.max_steps={steps}",
            f"train.save_every={max(1, steps // 10)}",
            "train.audition_every=0",
            f"train.lr={lr}",
            *extra,
        ]
    )
    summary = train_stage(stage, prepared, run, cfg)
    return summary or json.loads((run / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="corpus, prepared data and runs")
    parser.add_argument("target", type=Path, help="where the bases are written")
    parser.add_argument("--per-language", type=int, default=40)
    parser.add_argument("--hubert-steps", type=int, default=600)
    parser.add_argument("--codes", type=int, default=64, help="distinct semantic codes")
    parser.add_argument("--gpt-steps", type=int, default=3000)
    parser.add_argument("--sovits-steps", type=int, default=6000)
    parser.add_argument("--gpt-lr", type=float, default=3e-3)
    parser.add_argument("--sovits-lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init-from",
        type=Path,
        help="earlier bases to go on from: their feature models as they are, and their "
        "GPT and SoVITS pair as the starting weights",
    )
    args = parser.parse_args()

    import torch

    from leanvoice.config import load_config
    from leanvoice.data.features_step import run_feature_step
    from leanvoice.data.prepare import prepare_dataset
    from leanvoice.demo import demo_corpus_list
    from leanvoice.features.setup import TINY_DIR
    from leanvoice.infer.export import export_checkpoint, export_sovits_base
    from leanvoice.train.checkpoint import list_checkpoints

    started = time.time()
    demo_lines = demo_corpus_list().read_text(encoding="utf-8").splitlines()
    extra = {
        language: [line.split("|")[3] for line in demo_lines if line.split("|")[2] == language]
        for language in ("zh", "en")
    }
    listing = make_corpus(args.work, args.per_language, extra, args.seed)
    prepared = args.work / "prepared"
    prepare_dataset(listing, prepared, load_config(overrides=["model.size=tiny"]))
    hubert_losses = make_feature_models(prepared / TINY_DIR, prepared, args)
    run_feature_step(prepared, tiny=True)
    start = []
    if args.init_from:
        start = [
            f"model.gpt_init={args.init_from / 'gpt.ckpt'}",
            f"model.sovits_init={args.init_from / 'sovits.pth'}",
            f"model.sovits_d_init={args.init_from / 'sovits_d.pth'}",
        ]

    summaries = {
        "gpt": train(
            "gpt",
            prepared,
            args.work / "runs" / "gpt",
            args.gpt_steps,
            args.gpt_lr,
            ["memory.checkpoint=none", *start],
        ),
        "sovits": train(
            "sovits",
            prepared,
            args.work / "runs" / "sovits",
            args.sovits_steps,
            args.sovits_lr,
            ["memory.checkpoint=none", "data.max_clips=4", *start],
        ),
    }

    target = args.target
    target.mkdir(parents=True, exist_ok=True)
    for part in ("hubert", "bert"):
        shutil.rmtree(target / part, ignore_errors=True)
        shutil.copytree(prepared / TINY_DIR / part, target / part)
    export_checkpoint(list_checkpoints(args.work / "runs" / "gpt")[-1], target / "gpt.ckpt")
    export_sovits_base(
        list_checkpoints(args.work / "runs" / "sovits")[-1],
        target / "sovits.pth",
        target / "sovits_d.pth",
    )
    clips = listing.read_text(encoding="utf-8").splitlines()
    provenance = {
        "made_by": "scripts/make_tiny_bases.py " + " ".join(sys.argv[1:]),
        "commit": _git_commit(),
        "espeak_ng": _espeak_version(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "corpus": {
            "speakers": sorted(SPEAKERS),
            "clips": len(clips),
            "per_language": args.per_language,
            "seed": args.seed,
        },
        "hubert": {"distil_steps": args.hubert_steps, "loss": hubert_losses[-1]},
        "codes": args.codes,
        "training": {
            stage: {
                "steps": summary["steps"],
                "final_loss": summary["final_loss"],
                "lr": args.gpt_lr if stage == "gpt" else args.sovits_lr,
            }
            for stage, summary in summaries.items()
        },
        "minutes": round((time.time() - started) / 60, 1),
    }
    if args.init_from:  # the whole history: what these bases went on from
        earlier = json.loads((args.init_from / "provenance.json").read_text())
        provenance["went_on_from"] = earlier
    (target / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(json.dumps(provenance, indent=1))


def _git_commit() -> str:
    run = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip()


def _espeak_version() -> str:
    run = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    return run.stdout.strip()


if __name__ == "__main__":
    main()
