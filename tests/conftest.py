"""Shared fixtures. Tests make their own small data; the frozen MiniLM is loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def featurizer():
    from taste2vec_reference.model import TextFeaturizer

    return TextFeaturizer()


@pytest.fixture(scope="session")
def lexicon():
    from taste2vec import SensoryLexicon

    return SensoryLexicon.default()
