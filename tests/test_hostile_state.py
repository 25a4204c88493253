"""Hostile input to the SDK's state files and record parsing: typed errors naming the field, nothing lost when
several processes write one profile, nothing read past its bound."""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import numpy as np
import pytest

from taste2vec import InvalidTypeError, OutOfRangeError, TastingRecord
from taste2vec.fileio import json_depth, parse_json, read_json
from taste2vec.profile import ProfileError, TasteProfile
from taste2vec.records import as_record


def _profile_doc(dim: int = 4) -> dict:
    p = TasteProfile(dim=dim, buffer_size=4, model_version="m-1")
    e = np.eye(dim)
    p.like(e[0], item_id="a", attributes={"Floral": 1.0})
    p.dislike(e[1], item_id="b")
    return json.loads(p.to_json())


# --------------------------------------------------------------------------- bounded JSON
def test_parse_json_refuses_deep_nesting_nan_and_oversize_with_the_callers_error():
    class E(Exception):
        pass

    with pytest.raises(E, match="nested deeper than 32"):
        parse_json("[" * 100 + "]" * 100, E, "doc")
    with pytest.raises(E, match="nested deeper than"):  # past the interpreter's recursion limit too
        parse_json("[" * 200_000 + "]" * 200_000, E, "doc", max_bytes=10 ** 6)
    with pytest.raises(E, match="not valid JSON.*NaN"):
        parse_json('{"x": NaN}', E, "doc")
    with pytest.raises(E, match="more than the 10 allowed"):
        parse_json("[" + "1," * 20 + "1]", E, "doc", max_bytes=10)
    with pytest.raises(E, match="not UTF-8"):
        parse_json(b'{"x": "\xff"}', E, "doc")
    assert json_depth({"a": [1, {"b": []}]}) == 4 and json_depth(5) == 0


def _depth(v) -> int:
    if isinstance(v, dict):
        v = list(v.values())
    return 1 + max(map(_depth, v), default=0) if isinstance(v, list) else 0


def test_json_depth_is_the_nesting_depth_of_any_document():
    rng = np.random.default_rng(3)

    def doc(level: int):
        kind = int(rng.integers(0, 4 if level < 7 else 2))
        n = int(rng.integers(0, 4))
        if kind < 2:
            return [None, 1.5][kind]
        if kind == 2:
            return [doc(level + 1) for _ in range(n)] + [0.25] * int(rng.integers(0, 3))
        return {f"k{i}": doc(level + 1) for i in range(n)}

    for _ in range(300):
        d = doc(0)
        assert json_depth(d) == _depth(d), d
        assert json_depth(d, 2) == min(_depth(d), 3)


def test_another_parser_is_held_to_the_same_bounds():
    orjson = pytest.importorskip("orjson")

    class E(Exception):
        pass

    for text, message in (("[" * 40 + "]" * 40, "nested deeper than 32"), ("[" * 5000 + "]" * 5000, "not valid JSON"),
                          ('{"x": NaN}', "not valid JSON"), ('{"x": Infinity}', "not valid JSON"), ("[1,", "not valid")):
        with pytest.raises(E, match=message):
            parse_json(text, E, "doc", loads=orjson.loads)
    assert parse_json('{"a": [1, 2.5, "x"]}', E, "doc", loads=orjson.loads) == {"a": [1, 2.5, "x"]}


def test_read_json_never_reads_past_its_bound(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # a sparse 1 GB file: reading it whole would take a gigabyte of memory
        f.truncate(1024 ** 3)

    class E(Exception):
        pass

    with pytest.raises(E, match="more than the 1000 allowed"):
        read_json(big, E, "state", max_bytes=1000)
    with pytest.raises(E, match="cannot read"):
        read_json(tmp_path / "missing.json", E, "state")


def test_line_reading_never_holds_an_endless_line(tmp_path):
    import hashlib
    import tracemalloc

    from taste2vec.fileio import iter_lines

    f = tmp_path / "events.jsonl"
    with open(f, "wb") as fh:
        fh.write(b'{"a": 1}\r\n')
        fh.write(b"x" * (64 * 1024 * 1024) + b"\n")  # a 64 MB line
        fh.write(b"\xff\xfe\n" + b"y" * 100 + b"\n" + b"z" * 101)  # bad UTF-8, then lines at and past the cap
    digest = hashlib.sha256()
    tracemalloc.start()
    rows = list(iter_lines(f, 100, digest))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(n, t) for n, t, _ in rows] == [(1, '{"a": 1}'), (2, None), (3, None), (4, "y" * 100), (5, None)]
    assert "longer than 100 bytes" in rows[1][2] and "not UTF-8" in rows[2][2] and "longer" in rows[4][2]
    assert peak < 1024 * 1024  # the 64 MB line was skipped in small chunks
    assert digest.hexdigest() == hashlib.sha256(f.read_bytes()).hexdigest()  # every byte still hashed


@pytest.mark.parametrize("content, message", [
    (b'{"a": 1}\n' + b"x" * (300 * 1024) + b"\n", ":2: line longer than"),
    (b"[" * 50 + b"]" * 50 + b"\n", ":1: nested deeper than 8"),
    (b'{"rating": NaN}\n', ":1: not valid JSON"),
    (b'{"a": 1}\n[1, 2]\n', ":2: expected a JSON object, got list"),
    (b"\xff\n", ":1: not UTF-8"),
])
def test_lifecycle_event_files_are_read_bounded_with_the_line_named(tmp_path, capsys, content, message):
    from taste2vec_backend.lifecycle.cli import main

    design = tmp_path / "design.json"
    assert main(["plan", "--p-control", "0.3", "--mde", "0.2", "--out", str(design)]) == 0
    capsys.readouterr()
    f = tmp_path / "events.jsonl"
    f.write_bytes(content)
    assert main(["analyze", "--events", str(f), "--experiment", "e", "--design", str(design)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


# --------------------------------------------------------------------------- records
@pytest.mark.parametrize("doc, field, error", [
    ({"notes": []}, "notes", InvalidTypeError),
    ({"metrics": False}, "metrics", InvalidTypeError),
    ({"metrics": []}, "metrics", InvalidTypeError),
    ({"context": 0}, "context", InvalidTypeError),
    ({"context": ""}, "context", InvalidTypeError),
    ({"notes": 0}, "notes", InvalidTypeError),
    ({"metrics": {"acidity": 10 ** 400}}, "metrics.acidity", OutOfRangeError),
])
def test_falsy_or_huge_values_of_the_wrong_type_are_refused(doc, field, error):
    with pytest.raises(error) as e:
        TastingRecord.from_dict(doc)
    assert e.value.field == field


def test_missing_or_null_fields_still_mean_not_given():
    assert TastingRecord.from_dict({"notes": None, "metrics": None, "context": None}) == TastingRecord()
    assert TastingRecord.from_dict({}) == TastingRecord()


def test_record_json_text_is_bounded():
    deep = '{"notes": ' + "[" * 50_000 + "]" * 50_000 + "}"
    with pytest.raises(InvalidTypeError, match="record: text: nested deeper"):
        as_record(deep)
    with pytest.raises(InvalidTypeError, match="record: text: .* allowed"):
        as_record('{"notes": "' + "a" * (2 * 1024 * 1024) + '"}')
    assert as_record('{"notes": "jasmine"}').notes == "jasmine"


# --------------------------------------------------------------------------- profiles
@pytest.mark.parametrize("change, field", [
    (lambda d: d.update(dim=10 ** 13), "profile.dim"),
    (lambda d: d.update(dim=True), "profile.dim"),
    (lambda d: d.update(buffer_size=-1), "profile.buffer_size"),
    (lambda d: d.update(n_events=1e400), "Infinity"),  # json writes Infinity: refused while parsing
    (lambda d: d.update(n_events=-3), "profile.n_events"),
    (lambda d: d.update(n_events="7"), "profile.n_events"),
    (lambda d: d.update(ridge=0), "profile.ridge"),
    (lambda d: d["prior"].__setitem__(0, 1e200), "profile.prior"),
    (lambda d: d.update(prior=[0.0] * 3), "profile.prior"),
    (lambda d: d.update(model_version=["x"]), "profile.model_version"),
    (lambda d: d["buffer"][0].update(item_id="\ud800"), "profile.buffer[0].item_id"),
    (lambda d: d["buffer"][0].update(item_id="x" * 300), "profile.buffer[0].item_id"),
    (lambda d: d["buffer"][1].update(target=2.0), "profile.buffer[1].target"),
    (lambda d: d["buffer"][1].update(embedding=[1e9, 0, 0, 0]), "profile.buffer[1].embedding"),
    (lambda d: d["buffer"][0].update(time=-5.0), "profile.buffer[0].time"),
    (lambda d: d.update(buffer={"a": 1}), "profile.buffer"),
    (lambda d: d.update(attribute_affinity={"Floral": "high"}), "profile.attribute_affinity.Floral"),
    (lambda d: d.update(attribute_affinity={"\udfff": 1.0}), "profile.attribute_affinity"),
])
def test_absurd_profile_files_raise_profile_errors_naming_the_field(tmp_path, change, field):
    doc = _profile_doc()
    change(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8", errors="surrogatepass")
    with pytest.raises(ProfileError) as e:
        TasteProfile.load(path)
    assert str(e.value).startswith(field + ":") if field.startswith("profile") else field in str(e.value), e.value


def test_feedback_with_an_unsaveable_id_is_refused_before_it_corrupts_a_save(tmp_path):
    p = TasteProfile(dim=4)
    with pytest.raises(InvalidTypeError, match="item_id"):
        p.like(np.eye(4)[0], item_id="\ud800")
    with pytest.raises(InvalidTypeError, match="attributes"):
        p.like(np.eye(4)[0], attributes={"\ud800": 1.0})
    assert len(p) == 0
    TasteProfile.load(p.save(tmp_path / "p.json"))


def _hammer(path: str, worker: int, n: int) -> None:
    rng = np.random.default_rng(worker)
    for i in range(n):
        e = rng.normal(size=8)
        TasteProfile.update(path, lambda p: p.like(e, item_id=f"w{worker}-{i}"), dim=8, buffer_size=16)
        if i % 10 == 0:  # a plain reader in between never sees half a file
            TasteProfile.load(path)


def test_concurrent_read_modify_write_loses_no_update(tmp_path):
    path = str(tmp_path / "shared.json")
    workers, n = 4, 150
    ctx = mp.get_context("spawn" if os.name == "nt" else "fork")
    procs = [ctx.Process(target=_hammer, args=(path, w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    prof = TasteProfile.load(path)
    assert prof.n_events == workers * n  # every update landed
    assert len(prof.buffer) == 16 and np.isfinite(prof.preference).all()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]  # no temporary file left behind


# --------------------------------------------------------------------------- registry and rollout
def _register(root: str, bundle: str, key: str) -> None:
    from taste2vec.registry import ModelRegistry

    ModelRegistry(root, trusted_keys=[key]).register(bundle)


def test_concurrent_registrations_all_land(make_bundle, tmp_path, signing_key, trusted):
    from taste2vec.registry import ModelRegistry

    bundles = [str(make_bundle(f"1.{i}.0", root=tmp_path / f"b{i}").path) for i in range(8)]
    root = str(tmp_path / "reg")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_register, args=(root, b, str(signing_key[1]))) for b in bundles]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(bundles)
    listed = ModelRegistry(root, **trusted).list()
    assert sorted(m["version"] for m in listed) == sorted(f"1.{i}.0" for i in range(8))
    assert all(ModelRegistry(root, **trusted).load("taste2vec-test", m["version"]) for m in listed)


def _toggle_stage(root: str, version: str, key: str, n: int) -> None:
    from taste2vec_backend.lifecycle.stages import StagedRegistry

    reg = StagedRegistry(root, trusted_keys=[key])
    for i in range(n):
        reg.transition("taste2vec-test", version, "staging", f"{version} up {i}")
        reg.transition("taste2vec-test", version, "candidate", f"{version} down {i}")


def test_concurrent_stage_changes_lose_no_history(make_bundle, tmp_path, signing_key, trusted):
    from taste2vec_backend.lifecycle.stages import StagedRegistry

    root = str(tmp_path / "reg")
    versions = ("1.0.0", "1.1.0", "1.2.0")
    for v in versions:
        StagedRegistry(root, **trusted).register(make_bundle(v, root=tmp_path / v).path)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_toggle_stage, args=(root, v, str(signing_key[1]), 100)) for v in versions]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * len(versions)
    reg = StagedRegistry(root, **trusted)
    history = reg.history("taste2vec-test")
    assert len(history) == len(versions) * (1 + 200)  # registrations + every one of the 600 changes
    for v in versions:
        assert reg.stage("taste2vec-test", v) == "candidate"
        ups = [h["reason"] for h in history if h["version"] == v and h["to"] == "staging"]
        assert ups == [f"{v} up {i}" for i in range(100)]  # in order, none lost


@pytest.mark.parametrize("path", ["../outside", "/etc", "a/../../b", ".hidden", "sub/dir", "", 7, "\ud800"])
def test_index_paths_must_stay_inside_the_registry(make_bundle, tmp_path, path, trusted):
    from taste2vec.registry import ModelRegistry, RegistryError

    reg = ModelRegistry(tmp_path / "reg", **trusted)
    reg.register(make_bundle("1.0.0").path)
    index = json.loads((tmp_path / "reg" / "index.json").read_text())
    index["models"][0]["path"] = path
    (tmp_path / "reg" / "index.json").write_text(json.dumps(index), errors="surrogatepass")
    with pytest.raises(RegistryError, match=r"index.models\[0\]"):
        reg.load("taste2vec-test")


def test_a_symlink_out_of_the_registry_is_refused(make_bundle, tmp_path, trusted):
    from taste2vec.registry import ModelRegistry, RegistryError

    reg = ModelRegistry(tmp_path / "reg", **trusted)
    reg.register(make_bundle("1.0.0").path)
    elsewhere = make_bundle("1.0.0", root=tmp_path / "elsewhere").path
    (tmp_path / "reg" / "link").symlink_to(elsewhere, target_is_directory=True)
    index = json.loads((tmp_path / "reg" / "index.json").read_text())
    index["models"][0]["path"] = "link"
    (tmp_path / "reg" / "index.json").write_text(json.dumps(index))
    with pytest.raises(RegistryError, match="outside"):
        reg.load("taste2vec-test")


@pytest.mark.parametrize("model", ["../../etc/x-1", "/abs/x-1.0.0", "..", "a/b-1.0.0", ".x-1.0.0", "x-1\x00"])
def test_rollout_model_ids_cannot_leave_the_models_folder(tmp_path, model):
    from taste2vec.rollout import RolloutConfig, RolloutError

    doc = {"format": "taste2vec.rollout/1", "experiment": "e", "revision": 1,
           "variants": [{"name": "control", "model": model, "traffic": 100}]}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(RolloutError, match="plain folder name"):
        RolloutConfig.load(tmp_path / "r.json")


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(revision=10 ** 30), "rollout.revision"),
    (lambda d: d.update(revision="2"), "rollout.revision"),
    (lambda d: d["variants"][0].update(traffic=10 ** 400), "traffic"),
    (lambda d: d["variants"][0].update(traffic=float("nan")), "not valid JSON"),
    (lambda d: d.update(variants=[{"name": "c"}]), r"rollout.variants\[0\]"),
    (lambda d: d.update(variants=[]), "rollout.variants"),
    (lambda d: d.update(experiment=["x"]), "rollout.experiment"),
    (lambda d: d["variants"][0].update(name="\ud800"), "variant name"),
    (lambda d: d.update(variants="[" * 10_000), "rollout.variants"),
])
def test_absurd_rollout_files_raise_rollout_errors(tmp_path, change, message):
    from taste2vec.rollout import RolloutConfig, RolloutError

    doc = {"format": "taste2vec.rollout/1", "experiment": "e", "revision": 1,
           "variants": [{"name": "control", "model": "m-1.0.0", "traffic": 100}]}
    change(doc)
    (tmp_path / "r.json").write_text(json.dumps(doc), errors="surrogatepass")
    with pytest.raises(RolloutError, match=message):
        RolloutConfig.load(tmp_path / "r.json")
    deep = tmp_path / "deep.json"
    deep.write_text('{"format": "taste2vec.rollout/1", "variants": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(RolloutError, match="nested deeper"):
        RolloutConfig.load(deep)


@pytest.mark.parametrize("design, message", [
    ([1, 2], "design: expected a JSON object"),
    ({"looks": 2}, "design: missing max_n"),
    ("LOOKS", "design.looks: expected a number in [1, 100]"),
    ("ALPHA", "design.alpha: expected a number in [0, 1]"),
])
def test_malformed_experiment_designs_are_refused_naming_the_field(tmp_path, capsys, design, message):
    from taste2vec_backend.lifecycle.cli import main

    path = tmp_path / "design.json"
    assert main(["plan", "--p-control", "0.3", "--mde", "0.2", "--out", str(path)]) == 0
    good = json.loads(path.read_text())
    if isinstance(design, str):  # a field of a good design spoilt
        design = {"LOOKS": {**good, "looks": 10 ** 9}, "ALPHA": {**good, "alpha": "0.05"}}[design]
    path.write_text(json.dumps(design))
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "like"}\n')
    capsys.readouterr()
    assert main(["analyze", "--events", str(events), "--experiment", "e", "--design", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
