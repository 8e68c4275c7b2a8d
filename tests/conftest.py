"""Shared fixtures: real audio files from the shipped demo corpus, and prepared outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leanvoice.config import load_config
from leanvoice.data.prepare import prepare_dataset
from leanvoice.demo import demo_corpus_list


@pytest.fixture(scope="session")
def demo_list() -> Path:
    return demo_corpus_list()


@pytest.fixture(scope="session")
def awkward_list(demo_list: Path) -> Path:
    return demo_list.parent / "awkward.list"


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory: pytest.TempPathFactory, demo_list: Path):
    out = tmp_path_factory.mktemp("prepared_demo")
    return prepare_dataset(demo_list, out, load_config())


@pytest.fixture(scope="session")
def prepared_awkward(tmp_path_factory: pytest.TempPathFactory, awkward_list: Path):
    out = tmp_path_factory.mktemp("prepared_awkward")
    return prepare_dataset(awkward_list, out, load_config())


@pytest.fixture
def corpus_copy(tmp_path: Path, demo_list: Path) -> Path:
    """A writable copy of the demo corpus folder (lists + wavs)."""
    target = tmp_path / "corpus"
    shutil.copytree(demo_list.parent, target)
    return target


@pytest.fixture(scope="session")
def featured_demo(tmp_path_factory: pytest.TempPathFactory, prepared_demo) -> Path:
    """The demo corpus prepared with the built-in tiny feature models: what the trainers
    read. Read-only for tests (trainers write into their run folders)."""
    from leanvoice.data.features_step import run_feature_step

    out = tmp_path_factory.mktemp("featured_demo") / "prepared"
    shutil.copytree(prepared_demo.out, out)
    run_feature_step(out, tiny=True)
    return out
