"""The feedback stream: app events (``event_schema.json``, :mod:`.events`) -> validated records -> vectors ->
profiles and picks (:mod:`.profiles`, a keyed store updated at most once per batch and per event id). The
Structured Streaming job that runs them is the next step (issue 16)."""

from .events import AppEvent, EventSchema, MissingFieldError
from .profiles import ApplyResult, ProfileStore, StoreError, StreamProfile, Update, recompute

__all__ = ["AppEvent", "ApplyResult", "EventSchema", "MissingFieldError", "ProfileStore", "StoreError",
           "StreamProfile", "Update", "recompute"]
