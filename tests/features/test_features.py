import json
from pathlib import Path

import numpy as np
import pytest

from leanvoice.config.sizes import load_size
from leanvoice.data.features_step import run_feature_step
from leanvoice.features.bert import BertExtractor
from leanvoice.features.local_models import FeatureModelError
from leanvoice.features.ssl import SSLExtractor
from leanvoice.features.tiny import TINY_BERT_DIM, TINY_SSL_DIM, build_tiny_bert
from leanvoice.text import g2p


@pytest.fixture(scope="module")
def featured(tmp_path_factory, demo_list):
    from leanvoice.config import load_config
    from leanvoice.data.prepare import prepare_dataset

    out = tmp_path_factory.mktemp("featured")
    prepare_dataset(demo_list, out, load_config())
    first = run_feature_step(out, tiny=True)
    return out, first


def test_features_have_the_reference_shapes(featured) -> None:
    out, result = featured
    assert result.clips == 40 and result.computed == 40 and not result.skipped
    sizes = load_size("tiny")
    assert sizes.sovits.ssl_dim == TINY_SSL_DIM and sizes.gpt.bert_dim == TINY_BERT_DIM
    clips = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    tsv = dict(line.split("\t") for line in (out / "semantic.tsv").read_text().splitlines())
    for clip in clips:
        ssl = np.load(out / clip["ssl_path"])
        bert = np.load(out / clip["bert_path"])
        codes = np.load(out / clip["semantic_path"])
        assert ssl.dtype == np.float16 and ssl.shape[0] == TINY_SSL_DIM
        assert abs(ssl.shape[1] - clip["duration_sec"] * 50) <= 2  # 50 Hz
        assert bert.shape == (TINY_BERT_DIM, len(clip["phoneme_ids"]))
        assert codes.shape == (ssl.shape[1] // 2,) and codes.max() < 1024  # 25 Hz
        assert [int(c) for c in tsv[clip["id"]].split()] == codes.tolist()
        if clip["language"] == "en":
            assert not bert.any()  # zeros for non-Mandarin text, as official
        else:
            assert bert.any()
    assert len(np.unique(np.concatenate([np.load(out / c["semantic_path"]) for c in clips]))) > 50


def test_rerun_computes_nothing(featured) -> None:
    out, _ = featured
    before = {p: p.stat().st_mtime_ns for p in (out / "ssl").glob("*.npy")}
    again = run_feature_step(out, tiny=True)
    assert again.computed == 0 and again.clips == 40
    assert {p: p.stat().st_mtime_ns for p in (out / "ssl").glob("*.npy")} == before


def test_missing_model_folder_names_the_path_and_the_download(tmp_path: Path) -> None:
    with pytest.raises(FeatureModelError, match="chinese-hubert-base"):
        SSLExtractor(tmp_path / "chinese-hubert-base")
    with pytest.raises(FeatureModelError, match=str(tmp_path / "bert")):
        BertExtractor(tmp_path / "bert")


def test_bert_features_repeat_each_character_by_its_phoneme_count(tmp_path: Path) -> None:
    text = g2p("我们去公园。", "zh")
    extractor = BertExtractor(build_tiny_bert(tmp_path / "bert", text.normalized_text))
    features = extractor.phoneme_features(text.normalized_text, text.word2ph, len(text.phonemes))
    assert features.shape == (TINY_BERT_DIM, 11)
    np.testing.assert_array_equal(features[:, 0], features[:, 1])  # 我 → 2 phonemes
    assert not np.array_equal(features[:, 1], features[:, 2])


def test_batched_bert_equals_one_at_a_time(tmp_path: Path) -> None:
    texts = [g2p(t, "zh") for t in ("我们去公园。", "今天天气很好，我们一起去散步吧！")]
    english = g2p("Hello there.", "en")
    extractor = BertExtractor(
        build_tiny_bert(tmp_path / "bert", "".join(t.normalized_text for t in texts))
    )
    items = [(t.normalized_text, t.word2ph, len(t.phonemes)) for t in (*texts, english)]
    batched = extractor.phoneme_features_batch(items)
    for item, features in zip(items, batched, strict=True):
        np.testing.assert_allclose(features, extractor.phoneme_features(*item), atol=1e-5)
    assert not batched[2].any()
