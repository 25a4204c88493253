"""Fuzz suite: generated hostile records and mutated bundle manifests, profiles, rollouts and registry indexes.
Whatever comes in, the SDK answers with a typed error or a finite unit vector; nothing else escapes.

Bounded for `make test` (about a minute on 2 cores): 10,000 records (5,000 that the spec allows, so the whole
embed path runs; 5,000 near-valid or arbitrary JSON), a few hundred mutants of each file kind.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from taste2vec.bundle import BundleError, ModelBundle
from taste2vec.errors import RecordValidationError
from taste2vec.profile import ProfileError, TasteProfile
from taste2vec.registry import ModelRegistry, RegistryError
from taste2vec.rollout import RolloutConfig, RolloutError
from taste2vec.spec import default_spec

SPEC = default_spec()
OUTCOMES: Counter = Counter()  # printed at the end of the module (the closing note's fuzz counts)

SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10 ** 300, max_value=10 ** 320),
    st.floats(), st.floats(min_value=-1e3, max_value=1e3),
    st.text(max_size=30), st.sampled_from(["\ud800", "x" * 5000, "", "mon", "MON", "cafe", "home", "8"]))
JSON = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                    st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                    max_leaves=12)
METRIC_NAMES = [m.name for m in SPEC.metrics]
FIELD_NAMES = [f.name for f in SPEC.context_fields]


def _near_valid_value(draw_from):
    return st.one_of(st.floats(-50, 150), st.integers(-10, 200), draw_from)


SNAPSHOT = st.one_of(st.dictionaries(st.sampled_from(FIELD_NAMES + ["moood", ""]), _near_valid_value(SCALAR),
                                     max_size=6), JSON)
def _words() -> list[str]:
    from taste2vec.lexicon import SensoryLexicon

    doc = SensoryLexicon.default().doc
    words = [t["text"] for t in doc["terms"]] + [n["text"] for n in doc["negators"]]
    words += [i["text"] for i in doc["intensifiers"]]
    return words + ["and", "but", "the", "a", "with", "하지만", "그리고", "chocolat", "berrys", "jasmin", "ÉTÉ", "🍑"]


WORDS = _words()
SEPARATORS = [" ", " ", " ", ", ", ". ", "; ", "!", "\n", " (", ") ", "-", "…", "이 ", "가 "]


def _number(rng: random.Random, lo: float, hi: float, integer: bool) -> float | int:
    """A value in [lo, hi]: often an end point, sometimes an integer, else uniform."""
    r = rng.random()
    x = lo if r < 0.1 else hi if r < 0.2 else rng.uniform(lo, hi)
    return int(round(x)) if integer or r < 0.3 else x


def spec_valid_record(seed: int, notes: str | None) -> dict:
    """A record the spec allows, built from ``seed`` (hypothesis draws the seed; drawing every value through
    hypothesis costs ~90 us each on 2 cores, 7 ms a record): any subset of metrics and context fields, values
    at and inside their ranges, categories in any case, lexicon words in EN/KO with modifiers and negators."""
    rng = random.Random(seed)
    rec: dict = {}
    if rng.random() < 0.9:
        rec["notes"] = notes if notes is not None else "".join(
            rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(rng.randint(0, 80)))
    if rng.random() < 0.9:
        rec["metrics"] = {m.name: _number(rng, m.min, m.max, False) for m in SPEC.metrics if rng.random() < 0.6}
    if rng.random() < 0.9:
        rec["context"] = []
        for _ in range(rng.randint(0, 10)):
            snap = {}
            for f in SPEC.context_fields:
                if rng.random() < 0.6:
                    if f.kind == "categorical":
                        c = rng.choice(f.categories)
                        snap[f.name] = rng.choice([c, c.upper(), f" {c.title()} "])
                    else:
                        snap[f.name] = _number(rng, f.min, f.max, f.type == "int")
            rec["context"].append(snap)
    return rec


# half the records are ones the spec allows, so the whole embed path runs; the rest near-valid or any JSON
VALID_RECORD = st.builds(spec_valid_record, st.integers(0, 2 ** 32 - 1),
                         st.one_of(st.none(), st.none(), st.none(), st.text(max_size=200)))
HOSTILE_RECORD = st.one_of(
    st.fixed_dictionaries({}, optional={
        "notes": st.one_of(st.text(max_size=300), JSON),
        "metrics": st.one_of(st.dictionaries(st.sampled_from(METRIC_NAMES + ["acid"]), _near_valid_value(SCALAR),
                                             max_size=8), JSON),
        "context": st.one_of(st.lists(SNAPSHOT, max_size=12), JSON),
        "rating": SCALAR}),
    JSON)


@pytest.fixture(scope="module", autouse=True)
def _report_outcomes():
    yield
    print(f"\nfuzz outcomes: {dict(sorted(OUTCOMES.items()))}")


def _check_embed(embedder, record) -> None:
    """A typed error naming a field, or a finite unit vector with finite positive attributes."""
    try:
        r = embedder.embed(record)
    except RecordValidationError as e:
        assert isinstance(e.field, str) and str(e)  # the key itself for unknown fields (may be "")
        OUTCOMES[f"record: {type(e).__name__}"] += 1
        return
    v = r.embedding.astype(np.float64)
    assert v.shape == (128,) and np.isfinite(v).all() and abs(np.linalg.norm(v) - 1.0) < 1e-6
    assert all(np.isfinite(w) and w > 0 for w in r.attributes.values())
    OUTCOMES["record: embedded"] += 1


RECORD_SETTINGS = dict(deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                              HealthCheck.data_too_large])


@settings(max_examples=5_000, **RECORD_SETTINGS)
@given(record=VALID_RECORD)
def test_records_the_spec_allows_embed_to_unit_vectors(embedder, record):
    r = embedder.embed(record)  # no error: every value is allowed
    v = r.embedding.astype(np.float64)
    assert v.shape == (128,) and np.isfinite(v).all() and abs(np.linalg.norm(v) - 1.0) < 1e-6
    assert all(np.isfinite(w) and w > 0 for w in r.attributes.values())
    assert len(r.attributes) <= 8 and all(w.startswith(("notes: ", "context: ")) for w in r.warnings)  # cut, dropped
    OUTCOMES["record: embedded (spec-valid)"] += 1


@settings(max_examples=5_000, **RECORD_SETTINGS)
@given(record=HOSTILE_RECORD)
def test_hostile_records_give_typed_errors_or_unit_vectors(embedder, record):
    _check_embed(embedder, record)


def _mutate(doc, data) -> object:
    """Replace (or delete) one value somewhere in a JSON document with a generated one."""
    doc = copy.deepcopy(doc)
    if not isinstance(doc, (dict, list)) or not doc:
        return data.draw(JSON)
    node = doc
    while True:
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return doc
        k = data.draw(st.sampled_from(keys))
        child = node[k]
        if isinstance(child, (dict, list)) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.integers(0, 4)) == 0:
            del node[k]
        else:
            node[k] = data.draw(JSON)
        return doc


FILE_SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def manifest_case(tiny_bundle_parts, tmp_path_factory):
    from taste2vec.lexicon import default_lexicon_path
    from taste2vec_convert.bundle_writer import write_bundle

    model, tok, meta = tiny_bundle_parts
    b = write_bundle(tmp_path_factory.mktemp("fz"), "taste2vec-test", "1.0.0", model, tok, default_lexicon_path(),
                     meta, created="2026-01-01T00:00:00Z")
    return b.path, json.loads((b.path / "manifest.json").read_text())


@FILE_SETTINGS
@given(data=st.data())
def test_mutated_manifests_are_bundle_errors(manifest_case, data):
    path, manifest = manifest_case
    (path / "manifest.json").write_text(json.dumps(_mutate(manifest, data)), errors="surrogatepass")
    try:
        ModelBundle.load(path, allow_unsigned=True)
        OUTCOMES["manifest: loaded"] += 1
    except BundleError as e:
        OUTCOMES[f"manifest: {type(e).__name__}"] += 1
    finally:
        (path / "manifest.json").write_text(json.dumps(manifest))


def _profile_doc() -> dict:
    p = TasteProfile(dim=8, buffer_size=4)
    rng = np.random.default_rng(0)
    for i in range(6):
        p.add_feedback(rng.normal(size=8), liked=bool(i % 2), item_id=f"c{i}", attributes={"Floral": 1.0})
    return json.loads(p.to_json())


PROFILE = _profile_doc()
ROLLOUT = RolloutConfig.from_dict({"format": "taste2vec.rollout/1", "experiment": "e", "revision": 2, "variants": [
    {"name": "control", "model": "m-1.0.0", "traffic": 90}, {"name": "treatment", "model": "m-1.1.0", "traffic": 10}]
}).to_dict()


@FILE_SETTINGS
@given(data=st.data())
def test_mutated_profiles_and_rollouts_are_typed_errors(tmp_path_factory, data):
    d = tmp_path_factory.getbasetemp()
    (d / "p.json").write_text(json.dumps(_mutate(PROFILE, data)), errors="surrogatepass")
    try:
        p = TasteProfile.load(d / "p.json")
        assert np.isfinite(p.preference).all() and np.isfinite(p.score(np.eye(p.dim))).all()
        OUTCOMES["profile: loaded"] += 1
    except ProfileError:
        OUTCOMES["profile: ProfileError"] += 1
    (d / "r.json").write_text(json.dumps(_mutate(ROLLOUT, data)), errors="surrogatepass")
    try:
        cfg = RolloutConfig.load(d / "r.json")
        cfg.assign("user-1")
        OUTCOMES["rollout: loaded"] += 1
    except RolloutError:
        OUTCOMES["rollout: RolloutError"] += 1


@pytest.fixture(scope="module")
def registry_case(manifest_case, tmp_path_factory, signing_key):
    from taste2vec_convert.signing import sign_bundle

    path, _ = manifest_case
    sign_bundle(path, signing_key[0])
    root = tmp_path_factory.mktemp("reg")
    reg = ModelRegistry(root, trusted_keys=[signing_key[1]])
    reg.register(path)
    return reg, json.loads((root / "index.json").read_text())


@FILE_SETTINGS
@given(data=st.data())
def test_mutated_registry_indexes_are_registry_errors(registry_case, data):
    reg, index = registry_case
    (reg.root / "index.json").write_text(json.dumps(_mutate(index, data)), errors="surrogatepass")
    try:
        for m in reg.list():
            reg.load(m["name"], m["version"])
        OUTCOMES["index: loaded"] += 1
    except RegistryError:
        OUTCOMES["index: RegistryError"] += 1
    except BundleError:  # an entry that points at the real bundle folder with a wrong hash, version...
        OUTCOMES["index: BundleError"] += 1
    finally:
        (reg.root / "index.json").write_text(json.dumps(index))
