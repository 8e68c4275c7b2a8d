"""Our front ends against the official v2 front end's phonemes on a fixed sentence list
(tests/fixtures/frontend/official_v2_phonemes.json, with its provenance)."""

import pytest

from bench.frontend_agreement import GOALS, agreement


@pytest.fixture(scope="module")
def results():
    return agreement()


@pytest.mark.parametrize("group", list(GOALS))
def test_phoneme_agreement_with_the_official_front_end(results, group: str) -> None:
    score = results[group]
    assert score.sentences >= (20 if group == "mixed" else 30)
    assert score.per_phoneme >= GOALS[group], score.differences


@pytest.mark.parametrize("language", ["zh", "ja", "ko", "yue"])
def test_agreement_holds_on_sentences_the_rules_were_not_tuned_on(results, language) -> None:
    score = results[f"{language} held out"]
    assert score.sentences >= 15
    assert score.per_phoneme >= GOALS[language], score.differences
