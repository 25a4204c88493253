"""A personal taste profile learned on the device from feedback (likes, dislikes, ratings).

The profile is a preference direction ``w`` in embedding space; a coffee's score is ``w . e``. Each feedback
event is a target in [-1, 1] (liked = +1, disliked = -1, a 1..5 rating = (r - 3) / 2) on a unit embedding.
``w`` is the ridge-regression fit of the events in a bounded replay buffer around a prior ``w0``:

    w = w0 + E^T (E E^T + lambda I)^-1 (y - E w0)          (dual form: an n x n solve, n <= buffer_size)

When the buffer is full the oldest event is folded into the prior with one least-mean-squares step
(``w0 += fold_rate * (y - w0 . e) * e``), so memory and update time stay bounded (n = 64: ~0.1 ms, measured
in benchmarks/) and old taste fades slowly instead of being forgotten at once. The profile also keeps an
affinity per flavour attribute (from the lexicon attributes of what was rated), used to explain picks.

    profile = TasteProfile()
    profile.like(embedder.embed(record))                 # or: profile.rate(result, 4.5, item_id="c-12")
    scores = profile.score(catalog.embeddings)
    profile.save("profile.json"); TasteProfile.load("profile.json")
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .errors import InvalidTypeError, NonFiniteValueError, OutOfRangeError, Taste2VecError
from .fileio import file_lock, read_json, saveable_text, write_atomic

PROFILE_FORMAT = "taste2vec.profile/1"
RATING_MIN, RATING_MAX = 1.0, 5.0


class ProfileError(Taste2VecError):
    """A profile file is malformed, or feedback comes from another model than the profile's."""


@dataclass(frozen=True)
class Feedback:
    """One feedback event: a unit embedding, its target in [-1, 1], and what it was about."""

    embedding: np.ndarray
    target: float
    item_id: str | None = None
    attributes: Mapping[str, float] = field(default_factory=dict)
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"embedding": np.asarray(self.embedding, np.float64).tolist(), "target": self.target, "item_id": self.item_id,
                "attributes": dict(self.attributes), "time": self.time}


def rating_target(rating: Any) -> float:
    """A 1..5 star rating as a target in [-1, 1]; typed errors for anything else."""
    if isinstance(rating, bool) or not isinstance(rating, (int, float, np.integer, np.floating)):
        raise InvalidTypeError("rating", f"expected a number, got {type(rating).__name__}", "a number in [1, 5]",
                               rating)
    r = float(rating)
    if not math.isfinite(r):
        raise NonFiniteValueError("rating", f"value {rating!r} is not finite", "a number in [1, 5]", rating)
    if not RATING_MIN <= r <= RATING_MAX:
        raise OutOfRangeError("rating", f"value {rating!r} is out of range", "a number in [1, 5]", rating)
    return (r - 3.0) / 2.0


class TasteProfile:
    """A user's taste, learned online from feedback (see module docs). Not thread-safe: one per user."""

    def __init__(self, dim: int = 128, model_version: str | None = None, buffer_size: int = 64,
                 ridge: float = 1.0, fold_rate: float = 0.5) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise OutOfRangeError("dim", f"got {dim!r}", "an integer >= 1", dim)
        if not isinstance(buffer_size, int) or buffer_size < 1:
            raise OutOfRangeError("buffer_size", f"got {buffer_size!r}", "an integer >= 1", buffer_size)
        if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge > 0):
            raise OutOfRangeError("ridge", f"got {ridge!r}", "a finite number > 0", ridge)
        if not (isinstance(fold_rate, (int, float)) and 0 <= fold_rate <= 1):
            raise OutOfRangeError("fold_rate", f"got {fold_rate!r}", "a number in [0, 1]", fold_rate)
        self.dim = dim
        self.model_version = model_version
        self.buffer_size = buffer_size
        self.ridge = float(ridge)
        self.fold_rate = float(fold_rate)
        self.prior = np.zeros(dim, np.float64)
        self.buffer: list[Feedback] = []
        self.attribute_affinity: dict[str, float] = {}
        self.n_events = 0
        self._w = np.zeros(dim, np.float64)
        self._deferred = False

    # ------------------------------------------------------------------ feedback
    def _unit(self, embedding: Any) -> tuple[np.ndarray, str | None]:
        version = getattr(embedding, "model_version", None)
        vec = getattr(embedding, "embedding", embedding)
        if isinstance(vec, (Mapping, str, bytes)) or hasattr(vec, "notes"):
            raise InvalidTypeError("embedding", f"got a record ({type(vec).__name__}), not its embedding",
                                   f"an EmbeddingResult or {self.dim} numbers: embed the record first, e.g. "
                                   "profile.like(embedder.embed(record))", None)
        try:
            v = np.asarray(vec, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InvalidTypeError("embedding", f"not a numeric vector ({e})", f"{self.dim} finite numbers") from e
        if v.shape != (self.dim,):
            raise InvalidTypeError("embedding", f"shape {v.shape}", f"a vector of {self.dim} numbers", None)
        if not np.isfinite(v).all():
            raise NonFiniteValueError("embedding", "has NaN or infinite entries", f"{self.dim} finite numbers")
        n = float(np.linalg.norm(v))
        if n == 0.0:
            raise OutOfRangeError("embedding", "is the zero vector", "a non-zero vector")
        return v / n, version

    def add_feedback(self, embedding: Any, *, liked: bool | None = None, rating: float | None = None,
                     item_id: str | None = None, attributes: Mapping[str, float] | None = None) -> Feedback:
        """Learn from one event. Give exactly one of ``liked`` (True / False) and ``rating`` (1..5).

        ``embedding`` is an ``EmbeddingResult`` (its model version is checked against the profile's) or a
        vector; ``attributes`` (flavour attribute -> weight, e.g. ``EmbeddingResult.attributes`` or a catalog
        item's) feed the explanations.
        """
        if (liked is None) == (rating is None):
            raise ValueError("give exactly one of liked= and rating=")
        if liked is not None and not isinstance(liked, (bool, np.bool_)):
            raise InvalidTypeError("liked", f"expected True or False, got {type(liked).__name__}", "True or False",
                                   liked)
        target = (1.0 if liked else -1.0) if liked is not None else rating_target(rating)
        v, version = self._unit(embedding)
        if version is not None:
            if self.model_version is None:
                self.model_version = version
            elif version != self.model_version:
                raise ProfileError(f"feedback embedding comes from {version}, this profile holds {self.model_version} "
                                   "vectors (re-embed, or start a new profile for the new model)")
        if item_id is not None and not _valid_id(item_id):
            raise InvalidTypeError("item_id", "not a saveable id", f"a string of at most {MAX_ID_CHARS} characters "
                                   "of valid Unicode", item_id)
        attrs = {}
        for k, w in (attributes or {}).items():
            if not _valid_id(k) or isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise InvalidTypeError(f"attributes.{k}", f"bad attribute weight {w!r}", "name -> finite number", w)
            attrs[k] = float(w)
        fb = Feedback(v.astype(np.float32), target, item_id, attrs, time.time())
        if len(self.buffer) >= self.buffer_size:
            old = self.buffer.pop(0)
            e = old.embedding.astype(np.float64)
            self.prior += self.fold_rate * (old.target - float(self.prior @ e)) * e
        self.buffer.append(fb)
        for k, w in attrs.items():
            self.attribute_affinity[k] = self.attribute_affinity.get(k, 0.0) + target * w
        self.n_events += 1
        if not self._deferred:
            self._refit()
        return fb

    @contextlib.contextmanager
    def batch(self) -> Iterator["TasteProfile"]:
        """Add many events with one refit at the end instead of one per event (the backend's stream applies a
        user's micro-batch this way)::

            with profile.batch():
                for e in events:
                    profile.add_feedback(e.vector, liked=e.liked)

        The result is the same profile, bit for bit, as adding them one by one: the fit depends only on the final
        buffer and prior. It refits on the way out even when an event raised (the events before it stay applied,
        as one by one). Inside the block :attr:`preference` and :meth:`score` are stale."""
        outer = self._deferred
        self._deferred = True
        try:
            yield self
        finally:
            self._deferred = outer
            if not outer:
                self._refit()

    def like(self, embedding: Any, **kw: Any) -> Feedback:
        return self.add_feedback(embedding, liked=True, **kw)

    def dislike(self, embedding: Any, **kw: Any) -> Feedback:
        return self.add_feedback(embedding, liked=False, **kw)

    def rate(self, embedding: Any, rating: float, **kw: Any) -> Feedback:
        return self.add_feedback(embedding, rating=rating, **kw)

    def _refit(self) -> None:
        if not self.buffer:
            self._w = self.prior.copy()
            return
        e = np.stack([f.embedding for f in self.buffer]).astype(np.float64)
        y = np.array([f.target for f in self.buffer])
        k = e @ e.T
        k[np.diag_indices_from(k)] += self.ridge
        alpha = np.linalg.solve(k, y - e @ self.prior)
        self._w = self.prior + e.T @ alpha

    # ------------------------------------------------------------------ use
    @property
    def preference(self) -> np.ndarray:
        """The learned preference vector ``w`` (zeros before any feedback)."""
        return self._w.astype(np.float32)

    @property
    def is_empty(self) -> bool:
        return not bool(np.any(self._w))

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Predicted liking of each row of ``embeddings`` [N, dim] (higher = better; ~ -1..1)."""
        x = np.asarray(embeddings, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InvalidTypeError("embeddings", f"shape {x.shape}", f"[N, {self.dim}]", None)
        return (x @ self._w).astype(np.float32)

    def top_attributes(self, k: int = 5) -> list[tuple[str, float]]:
        """The flavour attributes this user liked most (positive affinity), strongest first."""
        pos = [(a, w) for a, w in self.attribute_affinity.items() if w > 0]
        return sorted(pos, key=lambda t: (-t[1], t[0]))[:k]

    def liked_items(self) -> list[tuple[str, np.ndarray]]:
        """``(item_id, embedding)`` of buffered events with a positive target and an id."""
        return [(f.item_id, f.embedding) for f in self.buffer if f.target > 0 and f.item_id is not None]

    def __len__(self) -> int:
        return self.n_events

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "dim": self.dim, "model_version": self.model_version,
                "buffer_size": self.buffer_size, "ridge": self.ridge, "fold_rate": self.fold_rate,
                "n_events": self.n_events, "prior": np.asarray(self.prior, np.float64).tolist(),
                "attribute_affinity": self.attribute_affinity, "buffer": [f.to_dict() for f in self.buffer]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TasteProfile":
        """A profile from its :meth:`to_dict` form; :class:`ProfileError` naming the field for anything that is
        not a profile this package could have written (types, sizes, ranges, non-finite numbers)."""
        if not isinstance(d, Mapping) or d.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"not a taste profile (format {d.get('format') if isinstance(d, Mapping) else None!r}, "
                               f"expected {PROFILE_FORMAT})")
        dim = _int_field(d, "dim", 1, MAX_DIM)
        p = cls(dim, _str_field(d, "model_version", optional=True), _int_field(d, "buffer_size", 1, MAX_BUFFER),
                _num_field(d, "ridge", 1e-9, 1e9), _num_field(d, "fold_rate", 0.0, 1.0))
        p.prior = _vector_field(d, "prior", dim, MAX_WEIGHT).astype(np.float64)
        buffer = d.get("buffer", [])
        if not isinstance(buffer, list) or len(buffer) > MAX_BUFFER:
            raise ProfileError(f"profile.buffer: expected a list of at most {MAX_BUFFER} events")
        for i, f in enumerate(buffer[-p.buffer_size:]):
            where = f"buffer[{i}]"
            if not isinstance(f, Mapping):
                raise ProfileError(f"profile.{where}: expected an object")
            v = _vector_field(f, "embedding", dim, 1.0 + 1e-3, where)
            p.buffer.append(Feedback(v.astype(np.float32), _num_field(f, "target", -1.0, 1.0, where),
                                     _str_field(f, "item_id", optional=True, where=where),
                                     _attributes(f.get("attributes") or {}, f"{where}.attributes"),
                                     _num_field(f, "time", 0.0, 1e11, where) if f.get("time") is not None else 0.0))
        p.attribute_affinity = _attributes(d.get("attribute_affinity") or {}, "attribute_affinity")
        p.n_events = _int_field(d, "n_events", len(p.buffer), MAX_EVENTS) if "n_events" in d else len(p.buffer)
        p._refit()
        return p

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write atomically (a uniquely named, fsynced temporary file + rename) under the file's lock, so a crash
        or a second process never leaves half a profile. For read-modify-write from several processes use
        :meth:`update`."""
        try:
            with file_lock(path):
                return write_atomic(path, self.to_json())
        except OSError as e:
            raise ProfileError(f"{path}: cannot save the profile ({e.strerror or e})") from None

    @classmethod
    def load(cls, path: str | Path) -> "TasteProfile":
        """Read a saved profile (bounded: at most 16 MB, 32 levels); :class:`ProfileError` if it is not one."""
        return cls.from_dict(read_json(path, ProfileError, "taste profile"))

    @classmethod
    def update(cls, path: str | Path, change: Callable[["TasteProfile"], Any], **new: Any) -> "TasteProfile":
        """Read-modify-write the profile at ``path`` under an inter-process lock: load it (or start
        ``TasteProfile(**new)`` when the file does not exist), apply ``change(profile)``, save atomically. Safe
        with several processes updating one file: no update is lost. Returns the saved profile."""
        try:
            with file_lock(path):
                p = cls.load(path) if Path(path).exists() else cls(**new)
                change(p)
                write_atomic(path, p.to_json())
        except OSError as e:
            raise ProfileError(f"{path}: cannot update the profile ({e.strerror or e})") from None
        return p


MAX_DIM = 4096
MAX_BUFFER = 4096
MAX_EVENTS = 2 ** 53  # counts stay exact in a float64 / JSON number
MAX_WEIGHT = 1e6  # |prior| entries: far beyond what feedback on unit vectors can reach
MAX_ATTRIBUTES = 10_000
MAX_ID_CHARS = 256


def _fail(where: str | None, name: str, msg: str) -> ProfileError:
    return ProfileError(f"profile.{where + '.' if where else ''}{name}: {msg}")


def _num_field(d: Mapping[str, Any], name: str, lo: float, hi: float, where: str | None = None) -> float:
    v = d.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(where, name, f"expected a number in [{lo:g}, {hi:g}], got {type(v).__name__}")
    try:
        x = float(v)
    except OverflowError:
        raise _fail(where, name, f"out of range (allowed [{lo:g}, {hi:g}])") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise _fail(where, name, f"{x!r} is out of range (allowed [{lo:g}, {hi:g}])")
    return x


def _int_field(d: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    v = d.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(None, name, f"expected an integer in [{lo}, {hi}], got {type(v).__name__}")
    if not lo <= v <= hi:
        raise _fail(None, name, f"{v if abs(v) < 10 ** 20 else 'a huge number'} is out of range "
                                f"(allowed [{lo}, {hi}])")
    return v


def _str_field(d: Mapping[str, Any], name: str, optional: bool = False, where: str | None = None) -> str | None:
    v = d.get(name)
    if v is None and optional:
        return None
    if not _valid_id(v):
        raise _fail(where, name, f"expected a string of at most {MAX_ID_CHARS} characters of valid Unicode")
    return v


_NUMBER_TYPES = frozenset((int, float))  # numbers as JSON parses them (bool, a subclass of int, is not one)


def _vector_field(d: Mapping[str, Any], name: str, dim: int, bound: float, where: str | None = None) -> np.ndarray:
    v = d.get(name)
    if not isinstance(v, list) or len(v) != dim or not (
            _NUMBER_TYPES.issuperset(map(type, v))  # the common case, at C speed; then subclasses (numpy floats)
            or all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        raise _fail(where, name, f"expected a list of {dim} numbers")
    try:
        a = np.asarray(v, np.float64)
    except OverflowError:
        raise _fail(where, name, "has a number beyond float range") from None
    if not np.isfinite(a).all() or np.abs(a).max(initial=0.0) > bound:
        raise _fail(where, name, f"entries must be finite with |x| <= {bound:g}")
    return a


def _attributes(a: Any, name: str) -> dict[str, float]:
    if not isinstance(a, Mapping) or len(a) > MAX_ATTRIBUTES:
        raise _fail(None, name, f"expected an object of at most {MAX_ATTRIBUTES} attribute -> number entries")
    out = {}
    for k, w in a.items():
        if not _valid_id(k):
            raise _fail(None, name, f"attribute names are strings of at most {MAX_ID_CHARS} characters")
        out[k] = _num_field(a, k, -1e12, 1e12, name)
    return out


def _valid_id(v: Any) -> bool:
    """A string this package can save: at most MAX_ID_CHARS characters, encodable as UTF-8."""
    return saveable_text(v, MAX_ID_CHARS)
