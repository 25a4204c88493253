"""The feedback stream: app events (``event_schema.json``, :mod:`.events`) -> validated records -> vectors ->
profiles and picks. This release has the event schema and its validator; the Structured Streaming job that runs
them is the next step (issue 16)."""

from .events import AppEvent, EventSchema, MissingFieldError

__all__ = ["AppEvent", "EventSchema", "MissingFieldError"]
