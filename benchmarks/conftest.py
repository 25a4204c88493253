"""Fixtures of the pytest-benchmark suite (``make bench``; never part of ``make test``)."""

from __future__ import annotations

import pytest

from taste2vec import Embedder
from taste2vec.bench import bench_record


@pytest.fixture(scope="session")
def embedder():
    with Embedder.create_default(num_threads=1) as e:
        yield e


@pytest.fixture(scope="session")
def records():
    return {k: bench_record(k) for k in ("short", "typical", "korean", "maximal")}
