"""The feedback stream's event schema: valid events of every type parse; everything else is a typed error that
names the field (what the stream's dead-letter sink records)."""

from __future__ import annotations

import json
import random
from datetime import timezone

import pytest

from taste2vec.errors import (InvalidTypeError, NonFiniteValueError, OutOfRangeError, RecordValidationError,
                              SpecError, UnknownCategoryError, UnknownFieldError)
from taste2vec_backend.stream.events import EventSchema, MissingFieldError

SCHEMA = EventSchema.default()
BASE = {"event_id": "e-1", "user_id": "u-7", "ts": "2026-11-27T08:15:00+09:00", "model_version": "taste2vec-edge-1.5.0",
        "variant": None}
RECORD = {"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7.5}, "context": [{"hour": 8, "weekday": "mon"}]}


@pytest.mark.parametrize("extra, feedback", [
    ({"type": "tasting", "record": RECORD}, None),
    ({"type": "tasting", "record": RECORD, "rating": 4}, {"rating": 4.0}),
    ({"type": "like", "item_id": "cr-03e56bd215"}, {"liked": True}),
    ({"type": "dislike", "record": {"notes": "ashy"}}, {"liked": False}),
    ({"type": "skip", "item_id": "cr-1", "variant": "treatment"}, None),
])
def test_valid_events_parse_and_round_trip(extra, feedback):
    ev = SCHEMA.parse({**BASE, **extra})
    assert ev.type == extra["type"] and ev.feedback == feedback
    assert ev.ts.utcoffset() is not None and ev.ts.astimezone(timezone.utc).hour == 23  # 08:15 +09:00
    assert SCHEMA.parse(ev.to_dict()) == ev
    assert SCHEMA.parse_line(json.dumps(ev.to_dict())) == ev
    if "record" in extra:
        assert ev.record.metrics == dict(extra["record"].get("metrics", {}))


@pytest.mark.parametrize("change, error, field", [
    ({"type": "buy"}, UnknownCategoryError, "type"),
    ({"type": None}, MissingFieldError, "type"),
    ({"type": "like"}, MissingFieldError, "item_id"),                     # neither item_id nor record
    ({"type": "tasting", "item_id": "x"}, MissingFieldError, "record"),
    ({"type": "skip", "item_id": "x", "rating": 3}, UnknownFieldError, "rating"),
    ({"type": "like", "item_id": "x", "rating": 3}, UnknownFieldError, "rating"),
    ({"type": "like", "item_id": "x", "colour": "red"}, UnknownFieldError, "colour"),
    ({"type": "like", "item_id": "x", "event_id": None}, MissingFieldError, "event_id"),
    ({"type": "like", "item_id": "x", "user_id": 7}, InvalidTypeError, "user_id"),
    ({"type": "like", "item_id": "../../etc/passwd"}, OutOfRangeError, "item_id"),
    ({"type": "like", "item_id": "x" * 129}, OutOfRangeError, "item_id"),
    ({"type": "like", "item_id": "x", "ts": "2026-11-27T08:15:00"}, OutOfRangeError, "ts"),  # no offset
    ({"type": "like", "item_id": "x", "ts": "yesterday"}, OutOfRangeError, "ts"),
    ({"type": "like", "item_id": "x", "ts": "1999-01-01T00:00:00Z"}, OutOfRangeError, "ts"),
    ({"type": "like", "item_id": "x", "ts": 1795740000}, InvalidTypeError, "ts"),
    ({"type": "like", "item_id": "x", "model_version": "latest"}, OutOfRangeError, "model_version"),
    ({"type": "tasting", "record": RECORD, "rating": 6}, OutOfRangeError, "rating"),
    ({"type": "tasting", "record": RECORD, "rating": True}, InvalidTypeError, "rating"),
    ({"type": "tasting", "record": RECORD, "rating": float("nan")}, NonFiniteValueError, "rating"),
    ({"type": "tasting", "record": {"notes": "x", "metrics": {"acidity": 70}}}, OutOfRangeError,
     "record.metrics.acidity"),
    ({"type": "tasting", "record": {"notes": "x", "context": [{"hour": 25}]}}, OutOfRangeError,
     "record.context[0].hour"),
    ({"type": "tasting", "record": "bright"}, InvalidTypeError, "record"),
])
def test_invalid_events_name_the_field(change, error, field):
    with pytest.raises(error) as e:
        SCHEMA.parse({**BASE, **change})
    assert e.value.field == field and field in str(e.value)


def test_lines_are_bounded_and_must_be_objects():
    for line in ("[1, 2]", "{", "NaN", '{"a": ' * 20 + "1" + "}" * 20, "x" * (SCHEMA.max_event_bytes + 1)):
        with pytest.raises(RecordValidationError) as e:
            SCHEMA.parse_line(line)
        assert e.value.field == "event"


def test_random_junk_is_always_a_typed_error():
    rng = random.Random(16)
    values = [None, True, 0, -1.5, "", "x", "2026-11-27T08:15:00Z", [], {}, {"notes": 3}, "taste2vec-edge-1.0.0"]
    keys = list(SCHEMA.fields) + ["extra"]
    parsed = 0
    for _ in range(3000):
        event = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        if rng.random() < 0.5:
            event = {**BASE, "type": rng.choice(["like", "dislike", "skip", "tasting"]), **event}
        try:
            SCHEMA.parse(event)
            parsed += 1
        except RecordValidationError as e:
            assert e.field and isinstance(str(e), str)
    assert 0 <= parsed < 3000


def test_a_malformed_schema_is_refused():
    doc = json.loads((__import__("importlib").resources.files("taste2vec_backend.stream")
                      .joinpath("event_schema.json").read_text()))
    for broken in ({**doc, "spec": "other"}, {**doc, "version": "2.0.0"}, {k: v for k, v in doc.items() if k != "types"},
                   {**doc, "limits": {**doc["limits"], "id_pattern": "("}}):
        with pytest.raises(SpecError):
            EventSchema(broken)
    assert EventSchema(doc).version == "1.0.0"
