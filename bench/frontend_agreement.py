"""How closely our text front ends agree with the official GPT-SoVITS v2 front end.

The reference phonemes (tests/fixtures/frontend/official_v2_phonemes.json) come from
running the official front end on a fixed list of sentences, at least 30 per language
plus mixed-language ones; the file says how and with which deviations. Per group:
exact-sequence agreement (the share of sentences whose phonemes are identical) and
per-phoneme agreement (phonemes in the longest matching blocks over the longer
sequence, summed over sentences). Rows marked held out were never used to adjust our
rules: they say how well the rules generalise. Goals: ≥ 97 % of phonemes for Mandarin, ≥ 95 % for
the others. `python -m bench.frontend_agreement` writes the table into
docs/benchmarks.md.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.doc import write_section
from leanvoice.text.g2p import g2p

REFERENCE = (
    Path(__file__).parents[1] / "tests" / "fixtures" / "frontend" / "official_v2_phonemes.json"
)
GOALS = {"zh": 0.97, "en": 0.95, "ja": 0.95, "ko": 0.95, "yue": 0.95, "mixed": 0.95}
NAMES = {
    "zh": "Mandarin (official without g2pW)",
    "en": "English",
    "ja": "Japanese",
    "ko": "Korean",
    "yue": "Cantonese",
    "mixed": "mixed-language",
}


@dataclass
class Agreement:
    sentences: int = 0
    identical: int = 0
    matched_phonemes: int = 0
    compared_phonemes: int = 0
    differences: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @property
    def exact(self) -> float:
        return self.identical / self.sentences

    @property
    def per_phoneme(self) -> float:
        return self.matched_phonemes / self.compared_phonemes


def agreement() -> dict[str, Agreement]:
    """Per group (zh, en, ja, ko, yue, mixed): how our phonemes compare with the official."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    results: dict[str, Agreement] = {}
    for row in reference["sentences"]:
        ours = g2p(row["text"], row["language"]).phonemes
        theirs = row["phonemes"]
        group = f"{row['group']} held out" if row.get("held_out") else row["group"]
        score = results.setdefault(group, Agreement())
        matcher = difflib.SequenceMatcher(a=theirs, b=ours, autojunk=False)
        score.sentences += 1
        score.identical += ours == theirs
        score.matched_phonemes += sum(block.size for block in matcher.get_matching_blocks())
        score.compared_phonemes += max(len(ours), len(theirs))
        if ours != theirs:
            score.differences.append((row["text"], theirs, ours))
    return results


def render(results: dict[str, Agreement]) -> str:
    lines = [
        "| language | sentences | identical sequences | phonemes equal | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for group, score in sorted(results.items(), key=lambda item: _order(item[0])):
        language = group.removesuffix(" held out")
        goal = GOALS[language]
        verdict = "met" if score.per_phoneme >= goal else "missed"
        name = NAMES[language] + (", held out" if group.endswith("held out") else "")
        lines.append(
            f"| {name} | {score.sentences} | {score.exact:.0%} | "
            f"{score.per_phoneme:.1%} | ≥ {goal:.0%}: {verdict} |"
        )
    return "\n".join(lines)


def _order(group: str) -> tuple[int, bool]:
    return list(GOALS).index(group.removesuffix(" held out")), group.endswith("held out")


def main() -> dict[str, Agreement]:
    results = agreement()
    table = render(results)
    print(table)
    for group, score in results.items():
        for text, theirs, ours in score.differences:
            print(
                f"\n[{group}] {text}\n  official: {' '.join(theirs)}\n  ours:     {' '.join(ours)}"
            )
    write_section("frontend-agreement", table)
    return results


if __name__ == "__main__":
    main()
