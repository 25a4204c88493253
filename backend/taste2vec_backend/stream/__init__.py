"""The feedback stream on Spark Structured Streaming: app events (``event_schema.json``, :mod:`.events`) ->
validated records -> vectors -> profiles and picks (:mod:`.profiles`, a keyed store updated at most once per batch
and per event id), preference pairs and per-variant feedback (:mod:`.job`); :mod:`.demo` runs it in a closed loop
on the synthetic world."""

from .events import AppEvent, EventSchema, MissingFieldError
from .profiles import ApplyResult, ProfileStore, StoreError, StreamProfile, Update, recompute

__all__ = ["AppEvent", "ApplyResult", "EventSchema", "MissingFieldError", "ProfileStore", "StoreError",
           "StreamProfile", "Update", "recompute"]
