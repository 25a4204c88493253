"""Staged rollout on the device: which model version a user gets, from a config the app downloads.

A rollout config (``taste2vec.rollout/1`` JSON) names an experiment and its variants, each a model id with a
traffic share in percent (the shares add up to 100):

    {"format": "taste2vec.rollout/1", "experiment": "edge-1.3.0-vs-1.2.0", "revision": 3,
     "variants": [{"name": "control", "model": "taste2vec-edge-1.2.0", "traffic": 90},
                  {"name": "treatment", "model": "taste2vec-edge-1.3.0", "traffic": 10}]}

A user's variant is a pure function of ``(experiment, user id)``: SHA-256 of ``"<experiment>:<user id>"`` ->
one of 10,000 buckets -> the variant whose cumulative share covers it. So it is stable across sessions and
devices, independent between experiments, needs no server round trip, and widening a variant from 10 % to 50 %
only moves users *into* it (buckets are assigned in variant order). The Kotlin port computes the same hash.

    config = RolloutConfig.load("rollout.json")
    variant = config.assign("user-42")
    embedder = Embedder.create_from_model_path(resolve_model(config, "user-42", models_dir), trusted_keys=APP_KEYS)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .bundle import check_not_older
from .errors import Taste2VecError
from .fileio import inside, plain_name, read_json, saveable_text, write_atomic

ROLLOUT_FORMAT = "taste2vec.rollout/1"
BUCKETS = 10_000
MAX_VARIANTS = 100


class RolloutError(Taste2VecError):
    """A rollout config is malformed, or names a model that is not available."""


@dataclass(frozen=True)
class RolloutVariant:
    """One arm of an experiment: a model id (``<name>-<version>``) and its share of users in percent."""

    name: str
    model: str
    traffic: float


def user_bucket(experiment: str, user_id: str, buckets: int = BUCKETS) -> int:
    """The user's bucket in ``[0, buckets)``: first 8 bytes of SHA-256(``experiment:user_id``), big-endian, mod."""
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % buckets


@dataclass(frozen=True)
class RolloutConfig:
    """A validated rollout config (see module docs)."""

    experiment: str
    variants: tuple[RolloutVariant, ...]
    revision: int = 1

    def __post_init__(self) -> None:
        if not plain_name(self.experiment):
            raise RolloutError("rollout: 'experiment' must be a plain name of at most 200 characters (no separators, "
                               "no leading dot, valid Unicode)")
        if not self.variants:
            raise RolloutError("rollout: at least one variant is needed")
        for v in self.variants:
            if not plain_name(v.name):
                raise RolloutError(f"rollout: variant name {v.name!r} must be a plain name of at most 200 characters")
            if not isinstance(v.traffic, (int, float)) or isinstance(v.traffic, bool) or not 0 <= v.traffic <= 100 \
                    or not math.isfinite(v.traffic):  # the range first: math.isfinite(10**400) would overflow
                raise RolloutError(f"rollout: variant {v.name!r} traffic {v.traffic!r} (allowed: a number in [0, 100])")
            if not plain_name(v.model) or "-" not in v.model:
                raise RolloutError(f"rollout: variant {v.name!r} model {v.model!r} is not a <name>-<version> id "
                                   "(a plain folder name: no separators, '..' or leading dot)")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise RolloutError(f"rollout: variant names must be unique, got {names}")
        if abs(sum(self._basis_points()) - BUCKETS) > 0:
            raise RolloutError(f"rollout: traffic adds up to {sum(v.traffic for v in self.variants):g} %, not 100 %")

    def _basis_points(self) -> list[int]:
        return [round(v.traffic * BUCKETS / 100) for v in self.variants]

    def assign(self, user_id: str) -> RolloutVariant:
        """The variant of ``user_id`` (deterministic; see module docs)."""
        if not user_id or not saveable_text(user_id, 1000):
            raise RolloutError("user_id must be a non-empty string of at most 1000 characters of valid Unicode")
        b = user_bucket(self.experiment, user_id)
        edge = 0
        for v, bp in zip(self.variants, self._basis_points()):
            edge += bp
            if b < edge:
                return v
        return self.variants[-1]  # unreachable: basis points add up to BUCKETS

    def variant(self, name: str) -> RolloutVariant:
        for v in self.variants:
            if v.name == name:
                return v
        raise RolloutError(f"no variant {name!r} in experiment {self.experiment!r}")

    def with_traffic(self, shares: Mapping[str, float], revision: int | None = None) -> "RolloutConfig":
        """A new config with some variants' traffic changed (e.g. a rollback sets the treatment to 0)."""
        unknown = set(shares) - {v.name for v in self.variants}
        if unknown:
            raise RolloutError(f"unknown variants {sorted(unknown)}")
        vs = tuple(RolloutVariant(v.name, v.model, float(shares.get(v.name, v.traffic))) for v in self.variants)
        return RolloutConfig(self.experiment, vs, self.revision + 1 if revision is None else revision)

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        return {"format": ROLLOUT_FORMAT, "experiment": self.experiment, "revision": self.revision,
                "variants": [{"name": v.name, "model": v.model, "traffic": v.traffic} for v in self.variants]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RolloutConfig":
        if not isinstance(d, Mapping) or d.get("format") != ROLLOUT_FORMAT:
            raise RolloutError(f"not a rollout config (format {d.get('format') if isinstance(d, Mapping) else None!r}, "
                               f"expected {ROLLOUT_FORMAT})")
        variants = d.get("variants")
        if not isinstance(variants, list) or not 1 <= len(variants) <= MAX_VARIANTS:
            raise RolloutError(f"rollout.variants: expected a list of 1 to {MAX_VARIANTS} variants")
        for i, v in enumerate(variants):
            if not isinstance(v, Mapping) or not all(k in v for k in ("name", "model", "traffic")):
                raise RolloutError(f"rollout.variants[{i}]: expected an object with name, model, traffic")
        if not isinstance(d.get("experiment"), str) or len(d["experiment"]) > 200:
            raise RolloutError("rollout.experiment: expected a string of at most 200 characters")
        revision = d.get("revision", 1)
        if isinstance(revision, bool) or not isinstance(revision, int) or not 0 <= revision <= 2 ** 53:
            raise RolloutError(f"rollout.revision: expected an integer in [0, 2**53], got {type(revision).__name__}")
        return cls(d["experiment"], tuple(RolloutVariant(v["name"], v["model"], v["traffic"]) for v in variants),
                   revision)

    @classmethod
    def load(cls, path: str | Path) -> "RolloutConfig":
        """Read a rollout config (bounded JSON); :class:`RolloutError` naming the field otherwise."""
        return cls.from_dict(read_json(path, RolloutError, "rollout config"))

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename): a device never reads half a config."""
        return write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")


def resolve_model(config: RolloutConfig, user_id: str, models_dir: str | Path, installed: str | None = None,
                  allow_downgrade: bool = False) -> Path:
    """The bundle folder of the user's variant: ``models_dir/<model id>`` (a registry root or the SDK's models).

    Anti-rollback: with ``installed`` (the version the app runs now), a variant older than it is a
    :class:`~taste2vec.bundle.DowngradeError` unless ``allow_downgrade`` (an experiment whose control arm is
    deliberately older).
    """
    v = config.assign(user_id)
    path = inside(models_dir, v.model, RolloutError, f"variant {v.name!r} model")
    m = _MODEL_ID.match(v.model)
    if m is None:
        raise RolloutError(f"variant {v.name!r}: model id {v.model!r} is not <name>-<MAJOR.MINOR.PATCH>")
    check_not_older(m.group(2), installed, allow_downgrade, f"variant {v.name!r} of {config.experiment!r}: {m.group(1)}")
    if not (path / "manifest.json").is_file():
        raise RolloutError(f"variant {v.name!r} of {config.experiment!r} needs model {v.model}, not found in {models_dir}")
    return path


_MODEL_ID = re.compile(r"^(.+?)-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)$")
