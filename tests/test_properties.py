"""Property-based: any record the spec allows embeds without error into a finite unit vector."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taste2vec.spec import default_spec

SPEC = default_spec()

TEXT = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),         # ASCII
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),     # Hangul syllables
    st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),     # Hangul jamo
    st.sampled_from(list("éüñ—…·、。！？☕🫐\u200b\t\n")),
    st.characters(categories=("L", "N", "P", "S", "Z"))), max_size=700)


def _number(lo: float, hi: float, integer: bool = False):
    if integer:
        return st.integers(int(lo), int(hi))
    return st.one_of(st.floats(lo, hi, allow_nan=False, allow_infinity=False), st.integers(int(np.ceil(lo)),
                                                                                             int(np.floor(hi))))


METRICS = st.fixed_dictionaries({}, optional={m.name: st.one_of(st.none(), _number(m.min, m.max))
                                              for m in SPEC.metrics})


def _field(f):
    if f.kind == "categorical":
        return st.sampled_from(list(f.categories) + [c.upper() for c in f.categories])
    return _number(float(f.min), float(f.max), integer=f.type == "int")


SNAPSHOT = st.fixed_dictionaries({}, optional={f.name: _field(f) for f in SPEC.context_fields})
RECORD = st.fixed_dictionaries({}, optional={"notes": TEXT, "metrics": METRICS,
                                             "context": st.lists(SNAPSHOT, max_size=11)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORD)
def test_any_valid_record_gives_a_unit_vector(embedder, record):
    r = embedder.embed(record)
    v = r.embedding.astype(np.float64)
    assert v.shape == (128,) and np.isfinite(v).all()
    assert abs(np.linalg.norm(v) - 1.0) < 1e-6
    assert r.bucket in embedder.bundle.tokenizer.buckets and r.n_tokens <= r.bucket
