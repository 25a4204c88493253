"""The stream's keyed profile store: one file per user, updated idempotently, with the user's current picks.

    store = ProfileStore("runs/stream/profiles", catalog=Catalog.default(), k=10)
    store.apply(batch_id=7, user_id="u-7", updates=[Update("e-1", 1795740000.0, {"liked": True}, vector, attrs)])
    store.get("u-7").profile.preference, store.get("u-7").picks

Each user's file (``taste2vec.stream-profile/1``) holds the SDK's :class:`~taste2vec.profile.TasteProfile` (the same
maths as on the phone), the number of events applied, the id of the last micro-batch applied and the ids of the
user's most recent events, and the top-k picks of the SDK's ``recommend`` after the update. Exactly once:

- a micro-batch is applied to a user at most once: the file records ``last_batch``, and a replayed batch (the job
  restarted after a crash, before its checkpoint committed the batch) is skipped for users it already reached;
- an event id is applied at most once: ids seen recently (the last 4,096 per user) are skipped, so a duplicate
  that the stream's watermark-bounded de-duplication let through still counts once;
- within a batch, updates are applied in (timestamp, event id) order, so the result does not depend on how the
  batch was partitioned.

Writes are atomic (a fsynced temporary file, then ``os.replace``) under the file's inter-process lock: a killed
writer leaves the previous version, never half a file. Files sit in 256 shard folders (first two hex digits of a
hash of the user id); user ids are the event schema's ids (no path separators, no leading dot).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from taste2vec.curation import Catalog, recommend
from taste2vec.errors import Taste2VecError
from taste2vec.fileio import file_lock, read_json, remove_stale_temporaries, write_atomic
from taste2vec.profile import ProfileError, TasteProfile

try:  # profile files through orjson when installed (the ``serve`` and ``spark`` extras; several times faster on
    # the vectors; standard JSON only, constants refused), else the standard library: both read the same numbers
    import orjson as _orjson
except ImportError:  # pragma: no cover - the extras install it
    _orjson = None

STORE_FORMAT = "taste2vec.stream-profile/1"
MAX_RECENT_IDS = 4096
MAX_PAIRS = 256  # preference pairs one user's batch may add
_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


class StoreError(Taste2VecError):
    """A profile file is damaged or was not written by this store, or a user id is not a safe key."""


@dataclass(frozen=True)
class Update:
    """One event of a user: ``feedback`` is ``{"liked": bool}`` or ``{"rating": stars}`` with the item's
    ``embedding``, or None for an event that teaches the profile nothing (a skip, a tasting without stars: it is
    still counted once, so the stream's other sinks see it once)."""

    event_id: str
    ts: float
    feedback: Mapping[str, Any] | None
    embedding: Sequence[float] | np.ndarray | None
    attributes: Mapping[str, float] = field(default_factory=dict)
    item_id: str | None = None
    model_version: str | None = None


@dataclass
class StreamProfile:
    """A user's state in the store: ``events`` counts every event applied (``profile.n_events`` those with
    feedback)."""

    user_id: str
    profile: TasteProfile
    events: int = 0
    last_batch: int = -1
    recent_ids: list[str] = field(default_factory=list)
    picks: list[dict[str, Any]] = field(default_factory=list)
    last_applied: list[str] = field(default_factory=list)    # event ids the last batch applied
    last_pairs: list[list[str]] = field(default_factory=list)  # preference pairs the last batch made
    last_duplicates: int = 0  # duplicates the last batch skipped (a replay reports them again)

    def to_dict(self) -> dict[str, Any]:
        return {"format": STORE_FORMAT, "user_id": self.user_id, "events": self.events, "last_batch": self.last_batch,
                "recent_ids": self.recent_ids, "picks": self.picks, "last_applied": self.last_applied,
                "last_pairs": self.last_pairs, "last_duplicates": self.last_duplicates,
                "profile": self.profile.to_dict()}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "StreamProfile":
        if not isinstance(d, dict) or d.get("format") != STORE_FORMAT:
            raise StoreError(f"{where}: not a stream profile (format {STORE_FORMAT} expected)")
        try:
            profile = TasteProfile.from_dict(d["profile"])
            events, last = d["events"], d["last_batch"]
            ids, picks, applied, pairs = d["recent_ids"], d["picks"], d["last_applied"], d["last_pairs"]
            dups = d.get("last_duplicates", 0)
            if not (isinstance(events, int) and 0 <= events < 2 ** 53 and isinstance(last, int) and -1 <= last < 2 ** 53
                    and type(dups) is int and 0 <= dups < 2 ** 53
                    and _strings(ids, MAX_RECENT_IDS) and _strings(applied, MAX_RECENT_IDS)
                    and isinstance(pairs, list) and len(pairs) <= MAX_PAIRS and all(_strings(p, 2) for p in pairs)
                    and isinstance(picks, list) and isinstance(d["user_id"], str)):
                raise StoreError(f"{where}: malformed counters, ids, pairs or picks")
        except KeyError as e:
            raise StoreError(f"{where}: missing {e}") from None
        except ProfileError as e:
            raise StoreError(f"{where}: {e}") from None
        return cls(d["user_id"], profile, events, last, list(ids), list(picks), list(applied), [list(p) for p in pairs],
                   dups)


def _strings(v: Any, limit: int) -> bool:
    return isinstance(v, list) and len(v) <= limit and all(isinstance(i, str) for i in v)


@dataclass(frozen=True)
class ApplyResult:
    """What one ``apply`` did: the event ids applied (for a replayed batch: those it applied the first time),
    duplicates skipped, whether the batch was a replay, and the preference pairs ``(preferred item, other item)``
    the new events made with the user's recent feedback (for fine-tuning)."""

    applied_ids: tuple[str, ...]
    duplicates: int
    replayed_batch: bool
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def applied(self) -> int:
        return 0 if self.replayed_batch else len(self.applied_ids)


class ProfileStore:
    """Per-user profile files under ``root`` (see module docs)."""

    def __init__(self, root: str | Path, catalog: Catalog | None = None, k: int = 10, dim: int = 128) -> None:
        self.root = Path(root)
        self.catalog, self.k, self.dim = catalog, k, dim

    def path(self, user_id: str) -> Path:
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            raise StoreError(f"user id {str(user_id)[:40]!r} is not a safe key (the event schema's id pattern)")
        shard = hashlib.sha256(user_id.encode()).hexdigest()[:2]
        return self.root / shard / f"{user_id}.json"

    def get(self, user_id: str) -> StreamProfile | None:
        """The user's state, or None before their first event."""
        p = self.path(user_id)
        if not p.exists():
            return None
        doc = read_json(p, StoreError, "stream profile", loads=_orjson.loads if _orjson else None)
        return StreamProfile.from_dict(doc, str(p))

    def users(self) -> Iterator[str]:
        """Every user with a profile (sorted); a writer's temporary file is never one."""
        return iter(sorted(p.stem for p in self.root.glob("??/*.json") if _USER_ID.fullmatch(p.stem)))

    def remove_stale_temporaries(self) -> int:
        """Delete the temporary files that writers which died mid-write left in the shard folders (their process
        is gone; a live writer's are kept); the number removed. Run at start-up by the stream job."""
        return sum(remove_stale_temporaries(shard) for shard in self.root.glob("??") if shard.is_dir())

    def apply(self, batch_id: int, user_id: str, updates: Sequence[Update], durable: bool = True) -> ApplyResult:
        """Apply one micro-batch's updates of one user, at most once (module docs); recompute the picks.

        ``durable=False`` skips the per-file fsync (the replace is still atomic for readers and for a killed
        process): for a caller that writes many users and then syncs once (the stream job, per partition)."""
        path = self.path(user_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(path):
            state = self.get(user_id) or StreamProfile(user_id, TasteProfile(self.dim))
            if state.last_batch == batch_id:  # the same batch again: what it did the first time, for the sinks
                return ApplyResult(tuple(state.last_applied), state.last_duplicates, True,
                                   tuple(tuple(p) for p in state.last_pairs))
            if state.last_batch > batch_id:
                return ApplyResult((), 0, True)
            seen = set(state.recent_ids)
            applied_ids: list[str] = []
            pairs: list[tuple[str, str]] = []
            duplicates = 0
            with state.profile.batch():  # one refit for the user's batch: the same profile as one by one
                for u in sorted(updates, key=lambda u: (u.ts, u.event_id)):
                    if u.event_id in seen:
                        duplicates += 1
                        continue
                    seen.add(u.event_id)
                    state.recent_ids.append(u.event_id)
                    applied_ids.append(u.event_id)
                    if u.feedback is None:
                        continue
                    vector = np.asarray(u.embedding, dtype=np.float32)
                    if u.model_version is not None and state.profile.model_version is None:
                        state.profile.model_version = u.model_version
                    elif u.model_version is not None and u.model_version != state.profile.model_version:
                        raise StoreError(f"user {user_id}: event {u.event_id} has {u.model_version} vectors, the "
                                         f"profile holds {state.profile.model_version} (re-embed on a model change)")
                    fb = state.profile.add_feedback(vector, item_id=u.item_id, attributes=dict(u.attributes),
                                                    **u.feedback)
                    if fb.item_id is not None and len(pairs) < MAX_PAIRS:
                        pairs += _pairs(fb, state.profile.buffer[:-1], MAX_PAIRS - len(pairs))
            del state.recent_ids[:-MAX_RECENT_IDS]
            state.events += len(applied_ids)
            state.last_batch = batch_id
            state.last_applied, state.last_pairs = applied_ids, [list(p) for p in pairs]
            state.last_duplicates = duplicates
            state.picks = self._picks(state.profile)
            write_atomic(path, _dumps(state.to_dict()), fsync=durable)
        return ApplyResult(tuple(applied_ids), duplicates, False, tuple(pairs))

    def _picks(self, profile: TasteProfile) -> list[dict[str, Any]]:
        cat = self.catalog
        if cat is None or profile.is_empty or profile.model_version not in (None, cat.model_version):
            return []
        rated = {f.item_id for f in profile.buffer if f.item_id}
        return [{"item_id": p.item.id, "score": round(p.score, 4), "because": list(p.because)}
                for p in recommend(profile, cat, k=self.k, exclude=rated)]


def _dumps(doc: dict[str, Any]) -> str:
    """JSON text of a profile file. The profile maths keeps every number finite; were one not, orjson would write
    null, which loading refuses (a StoreError, never a NaN)."""
    if _orjson is None:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False)
    return _orjson.dumps(doc).decode("utf-8")


def _pairs(new: Any, history: Sequence[Any], limit: int) -> list[tuple[str, str]]:
    """Preference pairs of a new feedback event with the recent ones of other items: liked (target > 0.25, i.e.
    a like or >= 4 stars) over disliked (target < -0.25: a dislike or <= 2 stars)."""
    out: list[tuple[str, str]] = []
    for old in history:
        if old.item_id is None or old.item_id == new.item_id or len(out) >= limit:
            continue
        if new.target > 0.25 and old.target < -0.25:
            out.append((new.item_id, old.item_id))
        elif new.target < -0.25 and old.target > 0.25:
            out.append((old.item_id, new.item_id))
    return out


def recompute(updates: Sequence[Update], dim: int = 128) -> TasteProfile:
    """A user's profile rebuilt from all their events at once (the reference an exactly-once run must equal):
    duplicates by event id counted once, applied in (timestamp, event id) order."""
    profile = TasteProfile(dim)
    seen: set[str] = set()
    for u in sorted(updates, key=lambda u: (u.ts, u.event_id)):
        if u.event_id in seen:
            continue
        seen.add(u.event_id)
        if u.feedback is None:
            continue
        if u.model_version is not None and profile.model_version is None:
            profile.model_version = u.model_version
        profile.add_feedback(np.asarray(u.embedding, dtype=np.float32), item_id=u.item_id,
                             attributes=dict(u.attributes), **u.feedback)
    return profile
