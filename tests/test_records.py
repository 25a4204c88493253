"""Record spec validation: every bad input is a typed error that names the field and its allowed range."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from taste2vec import (
    ContextSnapshot,
    InvalidTypeError,
    NonFiniteValueError,
    OutOfRangeError,
    RecordValidationError,
    SpecError,
    TastingRecord,
    UnknownCategoryError,
    UnknownFieldError,
    default_spec,
)
from taste2vec.spec import parse_spec, spec_path


def test_spec_has_the_twenty_metrics_and_ten_context_fields():
    spec = default_spec()
    assert spec.num_metrics == 20
    seed = ["temperature", "grind_size", "brew_ratio", "brew_time", "acidity", "sweetness", "bitterness", "body",
            "aftertaste", "balance"]
    assert list(spec.metric_names[:10]) == seed
    for name in ("acidity", "sweetness", "bitterness", "body", "aftertaste", "balance"):
        m = spec.metric(name)
        assert (m.min, m.max) == (0.0, 10.0)
    assert spec.context_max_steps == 8
    assert len(spec.context_fields) == 10


def test_context_dataclass_fields_follow_the_spec():
    spec = default_spec()
    assert [f.name for f in dataclasses.fields(ContextSnapshot)] == [f.name for f in spec.context_fields]


def test_spec_rejects_other_major_version_and_bad_ranges():
    data = json.loads(spec_path().read_text())
    with pytest.raises(SpecError, match="major version 2"):
        parse_spec({**data, "version": "2.0.0"})
    bad = json.loads(json.dumps(data))
    bad["metrics"][0]["min"] = 200
    with pytest.raises(SpecError, match="temperature"):
        parse_spec(bad)


@pytest.mark.parametrize("metrics, error, field, allowed", [
    ({"acidity": "high"}, InvalidTypeError, "metrics.acidity", "[0, 10]"),
    ({"acidity": True}, InvalidTypeError, "metrics.acidity", "[0, 10]"),
    ({"acidity": math.nan}, NonFiniteValueError, "metrics.acidity", "[0, 10]"),
    ({"brew_time": math.inf}, NonFiniteValueError, "metrics.brew_time", "[0, 86400] s"),
    ({"temperature": 120}, OutOfRangeError, "metrics.temperature", "[0, 100] degC"),
    ({"sweetness": -0.1}, OutOfRangeError, "metrics.sweetness", "in [0, 10])"),  # a 0-10 scale: named once
    ({"water_hardness": 501}, OutOfRangeError, "metrics.water_hardness", "[0, 500] ppm"),
    ({"bogus": 1.0}, UnknownFieldError, "metrics.bogus", "temperature"),
])
def test_bad_metric_values_raise_typed_errors(metrics, error, field, allowed):
    with pytest.raises(error) as exc:
        TastingRecord(metrics=metrics)
    assert isinstance(exc.value, RecordValidationError)
    assert exc.value.field == field
    assert field in str(exc.value) and allowed in str(exc.value)


@pytest.mark.parametrize("snap, error, field", [
    ({"hour": 24}, OutOfRangeError, "context[1].hour"),
    ({"hour": 7.5}, InvalidTypeError, "context[1].hour"),
    ({"hour": "7"}, InvalidTypeError, "context[1].hour"),
    ({"weekday": "funday"}, UnknownCategoryError, "context[1].weekday"),
    ({"social": 3}, InvalidTypeError, "context[1].social"),
    ({"mood": math.nan}, NonFiniteValueError, "context[1].mood"),
    ({"humidity": 101}, OutOfRangeError, "context[1].humidity"),
    ({"altitude": 3}, UnknownFieldError, "context[1].altitude"),
])
def test_bad_context_values_name_the_snapshot_and_field(snap, error, field):
    with pytest.raises(error) as exc:
        TastingRecord.from_dict({"context": [{"hour": 8}, snap]})
    assert exc.value.field == field


def test_direct_snapshot_construction_is_validated():
    with pytest.raises(UnknownCategoryError, match="context.location"):
        ContextSnapshot(location="moon")
    assert ContextSnapshot(weekday=" MON ").weekday == "mon"


def test_categories_are_stripped_and_lower_cased_from_dicts_as_by_the_constructor():
    rec = TastingRecord.from_dict({"context": [{"weekday": " MON ", "location": "Office", "social": "alone"}]})
    snap = rec.context[0]
    assert (snap.weekday, snap.location, snap.social) == ("mon", "office", "alone")
    assert snap == ContextSnapshot(weekday=" MON ", location="Office", social="alone")
    with pytest.raises(UnknownCategoryError) as exc:
        TastingRecord.from_dict({"context": [{"weekday": " Funday "}]})
    assert exc.value.field == "context[0].weekday" and "' Funday '" in str(exc.value)
    with pytest.raises(InvalidTypeError) as exc:  # a string for a number is refused, however it is spelled
        TastingRecord.from_dict({"context": [{"mood": " 5 "}]})
    assert exc.value.field == "context[0].mood"


def test_wrong_container_types():
    with pytest.raises(InvalidTypeError, match="notes"):
        TastingRecord(notes=42)
    with pytest.raises(InvalidTypeError, match="metrics"):
        TastingRecord(metrics=[1, 2])
    with pytest.raises(InvalidTypeError, match="context"):
        TastingRecord(context="yesterday")
    with pytest.raises(UnknownFieldError, match="rating"):
        TastingRecord.from_dict({"notes": "x", "rating": 5})


def test_long_notes_are_truncated_and_reported():
    limit = default_spec().notes_max_chars
    rec = TastingRecord(notes="초콜릿 " * 400)
    assert len(rec.notes) == limit
    assert rec.notes_truncated_from == 1600
    assert any("truncated" in w for w in rec.warnings)


def test_more_than_max_steps_keeps_the_newest():
    snaps = [{"hour": h} for h in range(12)]
    rec = TastingRecord.from_dict({"context": snaps})
    assert [c.hour for c in rec.context] == list(range(4, 12))
    assert rec.context_dropped == 4


def test_any_subset_of_fields_is_valid_and_round_trips():
    empty = TastingRecord()
    assert empty.notes == "" and not empty.metrics and not empty.context
    rec = TastingRecord.from_dict({"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7, "dose": None},
                                   "context": [{"hour": 9, "weekday": "Mon", "social": "alone"}]})
    assert dict(rec.metrics) == {"acidity": 7.0}  # None = not measured, not 0
    assert TastingRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


def test_notes_with_a_lone_surrogate_are_not_unicode_text_and_are_refused():
    from taste2vec.errors import InvalidTypeError
    from taste2vec.records import TastingRecord

    for notes, at in (("bright \ud800 jasmine", 7), ("\udcff", 0), ("🫐 x \udc00", 4)):
        with pytest.raises(InvalidTypeError, match=f"notes: not Unicode text: a lone surrogate U\\+.... at character {at}"):
            TastingRecord.from_dict({"notes": notes})
    assert TastingRecord.from_dict({"notes": "🫐 paired \U0001fac6"}).notes.startswith("🫐")


def test_cli_refuses_undecodable_notes_and_unwritable_profile_paths(tmp_path):
    import os
    import subprocess
    import sys

    p = subprocess.run([os.fsencode(sys.executable), b"-m", b"taste2vec", b"embed", b"--notes", b"bright \xff jasmine"],
                       capture_output=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count(b"\n") == 1 and b"lone surrogate" in p.stderr, p.stderr
    p = subprocess.run([sys.executable, "-m", "taste2vec", "recommend", "--liked", "cr-0017e22d08", "--save-profile",
                        "/proc/x/y.json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "cannot save the profile" in p.stderr, p.stderr


# --------------------------------------------------------------------------- exact limits
def _one_step(x: float, integer: bool) -> tuple[float, float]:
    """The nearest values just below and above ``x`` that the field's type allows."""
    return (x - 1, x + 1) if integer else (math.nextafter(x, -math.inf), math.nextafter(x, math.inf))


def test_every_metric_takes_its_bounds_and_refuses_one_step_beyond():
    import numpy as np

    for m in default_spec().metrics:
        for v in (m.min, m.max):
            for given in (v, int(v) if float(v).is_integer() else v, np.float64(v)):  # fast and full checks
                got = TastingRecord.from_dict({"metrics": {m.name: given}}).metrics[m.name]
                assert got == v and type(got) is float, (m.name, given)
        for v in (_one_step(m.min, False)[0], _one_step(m.max, False)[1]):
            for given in (v, np.float64(v)):
                with pytest.raises(OutOfRangeError) as e:
                    TastingRecord.from_dict({"metrics": {m.name: given}})
                assert e.value.field == f"metrics.{m.name}"


def test_every_numeric_context_field_takes_its_bounds_with_its_type():
    import numpy as np

    for f in default_spec().context_fields:
        if f.kind == "categorical":
            continue
        lo, hi, integer = f.bounds
        kind = int if integer else float
        for v in (lo, hi):
            for given in (int(v), float(v), np.float64(v)) if integer else (v, np.float64(v)):
                snap = ContextSnapshot.from_dict({f.name: given}, 3)
                rec = TastingRecord.from_dict({"context": [{f.name: given}]})
                for got in (getattr(snap, f.name), getattr(rec.context[0], f.name)):
                    assert got == v and type(got) is kind, (f.name, given, got)
        for v in (_one_step(lo, integer)[0], _one_step(hi, integer)[1]):
            with pytest.raises(OutOfRangeError) as e:
                ContextSnapshot.from_dict({f.name: v}, 3)
            assert e.value.field == f"context[3].{f.name}"
        if integer:
            for given in (lo + 0.5, np.float64(lo + 0.5)):
                with pytest.raises(InvalidTypeError, match="expected an integer") as e:
                    ContextSnapshot.from_dict({f.name: given}, 1)
                assert e.value.field == f"context[1].{f.name}"


def test_a_snapshot_that_is_not_an_object_names_the_fields_it_may_have():
    with pytest.raises(InvalidTypeError) as e:
        ContextSnapshot.from_dict(5, 2)
    names = [f.name for f in default_spec().context_fields]
    assert e.value.field == "context[2]" and e.value.allowed == "an object with fields " + ", ".join(names)
    with pytest.raises(InvalidTypeError) as e:
        TastingRecord.from_dict({"context": [{}, "sunny"]})
    assert e.value.field == "context[1]"


def test_notes_and_context_limits_are_exact():
    spec = default_spec()
    at = TastingRecord.from_dict({"notes": "a" * spec.notes_max_chars})
    assert at.notes_truncated_from is None and at.warnings == ()
    over = TastingRecord.from_dict({"notes": "a" * (spec.notes_max_chars + 1)})
    assert over.notes_truncated_from == spec.notes_max_chars + 1 and len(over.notes) == spec.notes_max_chars
    assert over.warnings == (f"notes: truncated from {spec.notes_max_chars + 1} to {spec.notes_max_chars} "
                             "characters",)
    assert TastingRecord.from_dict({"notes": "a" * spec.notes_reject_chars}).notes_truncated_from is not None
    with pytest.raises(OutOfRangeError) as e:
        TastingRecord.from_dict({"notes": "a" * (spec.notes_reject_chars + 1)})
    assert e.value.field == "notes"
    steps = spec.context_max_steps
    full = TastingRecord.from_dict({"context": [{"hour": h % 24} for h in range(steps)]})
    assert full.context_dropped == 0 and full.warnings == ()
    more = TastingRecord.from_dict({"context": [{"hour": h % 24} for h in range(steps + 2)]})
    assert more.context_dropped == 2 and [c.hour for c in more.context] == [h % 24 for h in range(2, steps + 2)]
    assert more.warnings == (f"context: kept the newest {steps} snapshots, dropped 2",)


def test_record_json_text_limits_are_exact():
    from taste2vec.records import MAX_RECORD_JSON_BYTES, MAX_RECORD_JSON_DEPTH, as_record

    text = '{"notes": "bright"}'
    assert as_record(text + " " * (MAX_RECORD_JSON_BYTES - len(text))).notes == "bright"
    with pytest.raises(InvalidTypeError, match=f"more than the {MAX_RECORD_JSON_BYTES} allowed"):
        as_record(text + " " * (MAX_RECORD_JSON_BYTES - len(text) + 1))
    assert (MAX_RECORD_JSON_BYTES, MAX_RECORD_JSON_DEPTH) == (1024 * 1024, 8)

    def nested(depth: int) -> str:  # record -> context -> snapshot: three levels, then lists around the hour
        k = depth - 3
        return '{"context": [{"hour": ' + "[" * k + "1" + "]" * k + "}]}"

    with pytest.raises(InvalidTypeError) as e:  # deep enough to be read, then refused as a value
        as_record(nested(MAX_RECORD_JSON_DEPTH))
    assert e.value.field == "context[0].hour"
    with pytest.raises(InvalidTypeError, match=f"nested deeper than {MAX_RECORD_JSON_DEPTH}"):
        as_record(nested(MAX_RECORD_JSON_DEPTH + 1))


def test_records_and_snapshots_are_immutable():
    rec = TastingRecord.from_dict({"notes": "jasmine", "context": [{"hour": 7}]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.notes = "smoky"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.context[0].hour = 8


def test_odd_values_at_the_edges_of_the_number_checks():
    with pytest.raises(OutOfRangeError) as e:  # beyond float range: out of range, not an OverflowError
        TastingRecord.from_dict({"metrics": {"acidity": 10 ** 400}})
    assert e.value.field == "metrics.acidity"
    with pytest.raises(InvalidTypeError, match="expected a number, got str"):
        TastingRecord.from_dict({"metrics": {"acidity": "7"}})
    with pytest.raises(InvalidTypeError, match="expected an integer, got str"):
        ContextSnapshot.from_dict({"hour": "7"})
    with pytest.raises(InvalidTypeError) as e:
        ContextSnapshot.from_dict({"hour": "7"})
    assert e.value.field == "context[0].hour"  # the default index
    snap = ContextSnapshot.from_dict({"hour": None, "mood": 5, "weekday": None, "social": "alone"})
    assert (snap.hour, snap.mood, snap.weekday, snap.social) == (None, 5.0, None, "alone")
    assert TastingRecord(notes="jasmine").warnings == () and TastingRecord(notes="jasmine").context_dropped == 0
