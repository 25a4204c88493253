"""App events of the feedback stream: the versioned schema (``event_schema.json``) and its validator.

    schema = EventSchema.default()
    event = schema.parse({"event_id": "e-1", "user_id": "u-7", "ts": "2026-11-27T08:15:00Z", "type": "like",
                          "item_id": "cr-03e56bd215", "model_version": "taste2vec-edge-1.8.0", "variant": null})
    event.record   # a validated TastingRecord for tastings (and likes of coffees without a catalog id), else None

Anything else raises a :class:`~taste2vec.errors.RecordValidationError` subclass naming the field (``ts``,
``record.metrics.acidity``) and what is allowed there: the stream job sends those events, with the error, to its
dead-letter sink. :func:`parse_line` does the same for one line of JSON text, bounded in size and depth.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from taste2vec.errors import (InvalidTypeError, NonFiniteValueError, OutOfRangeError, RecordValidationError, SpecError,
                              UnknownCategoryError, UnknownFieldError)
from taste2vec.fileio import parse_json
from taste2vec.records import TastingRecord

EVENT_SPEC = "taste2vec.event"
MAX_EVENT_DEPTH = 10  # event -> record -> context -> snapshot -> value is 4 levels


class MissingFieldError(RecordValidationError):
    """A field the event schema requires (for this event type) is absent or null."""


@dataclass(frozen=True)
class AppEvent:
    """One validated app event (see ``event_schema.json`` for the fields)."""

    event_id: str
    user_id: str
    ts: datetime
    type: str
    model_version: str
    record: TastingRecord | None = None
    item_id: str | None = None
    rating: float | None = None
    variant: str | None = None

    @property
    def feedback(self) -> dict[str, Any] | None:
        """The profile update this event asks for (``liked=`` / ``rating=`` keyword of ``add_feedback``), or None
        (a skip, or a tasting without stars, teaches the profile nothing)."""
        if self.type == "like":
            return {"liked": True}
        if self.type == "dislike":
            return {"liked": False}
        if self.type == "tasting" and self.rating is not None:
            return {"rating": self.rating}
        return None

    def to_dict(self) -> dict[str, Any]:
        """The event as the app would send it (``parse`` reads it back to an equal event)."""
        d: dict[str, Any] = {"event_id": self.event_id, "user_id": self.user_id,
                             "ts": self.ts.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                             "type": self.type, "model_version": self.model_version, "variant": self.variant}
        if self.record is not None:
            d["record"] = self.record.to_dict()
        if self.item_id is not None:
            d["item_id"] = self.item_id
        if self.rating is not None:
            d["rating"] = self.rating
        return d


class EventSchema:
    """The event schema of one ``event_schema.json`` and the validator it drives."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        try:
            if doc["spec"] != EVENT_SPEC:
                raise SpecError(f"not an event schema: spec {doc['spec']!r}, expected {EVENT_SPEC!r}")
            self.version = str(doc["version"])
            if int(self.version.split(".")[0]) != 1:
                raise SpecError(f"event schema {self.version}: this package reads major version 1")
            self.fields: dict[str, dict[str, Any]] = dict(doc["fields"])
            self.types: dict[str, dict[str, Any]] = dict(doc["types"])
            limits = doc["limits"]
            self._id = re.compile(limits["id_pattern"])
            self._model_id = re.compile(limits["model_id_pattern"])
            self.max_event_bytes = int(limits["max_event_bytes"])
            ts = self.fields["ts"]
            self._ts_range = (_timestamp(ts["min"]), _timestamp(ts["max"]))
            if set(self.fields["type"]["values"]) != set(self.types):
                raise SpecError("event schema: type values and the types table differ")
        except (KeyError, TypeError, ValueError, re.error) as e:
            raise SpecError(f"malformed event schema: {type(e).__name__}: {e}") from None

    @classmethod
    def default(cls) -> "EventSchema":
        """The schema shipped with this package."""
        return _default_schema()

    # ------------------------------------------------------------------ validation
    def parse(self, data: Any) -> AppEvent:
        """A validated :class:`AppEvent` from a JSON-like mapping; typed errors naming the field otherwise."""
        if not isinstance(data, Mapping):
            raise InvalidTypeError("event", f"expected an object, got {type(data).__name__}",
                                   "a JSON object with " + ", ".join(self.fields), None)
        for key in data:
            if key not in self.fields:
                raise UnknownFieldError(str(key)[:64], "unknown event field", ", ".join(self.fields), None)
        kind = self._enum(data, "type")
        rule = self.types[kind]
        for name in rule.get("requires", []):
            if data.get(name) is None:
                raise MissingFieldError(name, f"required for a {kind} event", self.fields[name]["doc"])
        one_of = rule.get("requires_one_of", [])
        if one_of and all(data.get(n) is None for n in one_of):
            raise MissingFieldError(one_of[0], f"a {kind} event needs one of {', '.join(one_of)}",
                                    self.fields[one_of[0]]["doc"])
        for name in rule.get("forbids", []):
            if data.get(name) is not None:
                raise UnknownFieldError(name, f"not allowed in a {kind} event", "absent or null", None)
        for name, f in self.fields.items():
            if f.get("required") and data.get(name) is None and not f.get("nullable"):
                raise MissingFieldError(name, "required", f["doc"])
        record = None
        if data.get("record") is not None:
            try:
                record = TastingRecord.from_dict(data["record"])
            except RecordValidationError as e:
                raise e if e.field == "record" else e.nest_under("record")
        return AppEvent(event_id=self._ident(data, "event_id"), user_id=self._ident(data, "user_id"),
                        ts=self._ts(data), type=kind, model_version=self._model(data), record=record,
                        item_id=self._ident(data, "item_id", optional=True), rating=self._rating(data),
                        variant=self._ident(data, "variant", optional=True))

    def parse_line(self, line: str | bytes) -> AppEvent:
        """:meth:`parse` of one line of JSON text (at most ``max_event_bytes``, nested at most 10 levels)."""
        def refuse(msg: str) -> InvalidTypeError:
            return InvalidTypeError("event", msg, "one JSON object per line", None)

        return self.parse(parse_json(line, refuse, "event", max_bytes=self.max_event_bytes, max_depth=MAX_EVENT_DEPTH))

    # ------------------------------------------------------------------ field checks
    def _enum(self, data: Mapping[str, Any], name: str) -> str:
        v = data.get(name)
        values = self.fields[name]["values"]
        if v is None:
            raise MissingFieldError(name, "required", ", ".join(values))
        if not isinstance(v, str):
            raise InvalidTypeError(name, f"expected a string, got {type(v).__name__}", ", ".join(values), None)
        if v not in values:
            raise UnknownCategoryError(name, f"unknown value {v[:40]!r}", ", ".join(values), v[:40])
        return v

    def _ident(self, data: Mapping[str, Any], name: str, optional: bool = False) -> str | None:
        v = data.get(name)
        if v is None and optional:
            return None
        allowed = f"1-128 characters of A-Z a-z 0-9 . _ : @ - (pattern {self._id.pattern})"
        if not isinstance(v, str):
            raise InvalidTypeError(name, f"expected a string, got {type(v).__name__}", allowed, None)
        if not self._id.fullmatch(v):
            raise OutOfRangeError(name, f"{v[:40]!r} is not a valid id", allowed, v[:40])
        return v

    def _model(self, data: Mapping[str, Any]) -> str:
        v = data.get("model_version")
        allowed = "<name>-<major>.<minor>.<patch>, e.g. taste2vec-edge-1.8.0"
        if not isinstance(v, str):
            raise InvalidTypeError("model_version", f"expected a string, got {type(v).__name__}", allowed, None)
        if not self._model_id.fullmatch(v):
            raise OutOfRangeError("model_version", f"{v[:40]!r} is not a model id", allowed, v[:40])
        return v

    def _ts(self, data: Mapping[str, Any]) -> datetime:
        v = data.get("ts")
        allowed = self.fields["ts"]["doc"].split(": ", 1)[-1]
        if not isinstance(v, str) or len(v) > 40:
            raise InvalidTypeError("ts", f"expected an RFC 3339 string, got {type(v).__name__}", allowed, None)
        try:
            ts = _timestamp(v)
        except ValueError as e:
            raise OutOfRangeError("ts", str(e), allowed, v) from None
        lo, hi = self._ts_range
        if not lo <= ts < hi:
            raise OutOfRangeError("ts", f"{v} is outside the accepted range",
                                  f"{self.fields['ts']['min']} <= ts < {self.fields['ts']['max']}", v)
        return ts

    def _rating(self, data: Mapping[str, Any]) -> float | None:
        v = data.get("rating")
        if v is None:
            return None
        f = self.fields["rating"]
        allowed = f"a number in [{f['min']}, {f['max']}]"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidTypeError("rating", f"expected a number, got {type(v).__name__}", allowed, None)
        if not math.isfinite(v):
            raise NonFiniteValueError("rating", "not finite", allowed, v)
        if not f["min"] <= v <= f["max"]:
            raise OutOfRangeError("rating", f"{v} is out of range", allowed, v)
        return float(v)


def _timestamp(text: str) -> datetime:
    """An aware datetime from RFC 3339 text; ValueError without a UTC offset or when malformed."""
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 timestamp") from None
    if ts.tzinfo is None:
        raise ValueError(f"{text[:40]!r} has no UTC offset (add Z or +09:00)")
    return ts


@lru_cache(maxsize=1)
def _default_schema() -> EventSchema:
    text = resources.files("taste2vec_backend.stream").joinpath("event_schema.json").read_text(encoding="utf-8")
    return EventSchema(json.loads(text))
