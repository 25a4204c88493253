"""Curation: recommend coffees from a catalog of embeddings for a taste profile, and say why.

A catalog (``taste2vec.catalog/1`` JSON) holds coffees (id, name, roaster, origin, roast, flavour attributes) and
their embeddings made with one model version. The bundled demo catalog (``assets/demo_catalog.json``) was built
by the conversion toolkit from public review data: it ships names, origins, derived flavour attributes and
vectors, never the review text.

    catalog = Catalog.default()
    picks = recommend(profile, catalog, k=5, exclude={"cr-0012"}, diversity=0.3)
    for p in picks: print(p.item.name, p.score, p.explanation)

``diversity`` > 0 re-ranks with maximal marginal relevance (MMR): each next pick maximizes
``(1 - diversity) * relevance - diversity * max cosine to the picks so far``, relevance scaled to [0, 1].
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import OutOfRangeError, RecordValidationError, Taste2VecError
from .fileio import read_json, write_atomic
from .profile import TasteProfile

CATALOG_FORMAT = "taste2vec.catalog/1"


class CatalogError(Taste2VecError):
    """A catalog file is malformed, or does not fit the profile / model it is used with."""


@dataclass(frozen=True)
class CatalogItem:
    """One coffee of a catalog."""

    id: str
    name: str
    roaster: str = ""
    origin: str = ""
    roast: str = ""
    rating: float | None = None
    attributes: Mapping[str, float] = field(default_factory=dict)  # flavour attribute path -> weight

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "roaster": self.roaster, "origin": self.origin, "roast": self.roast,
                "rating": self.rating, "attributes": dict(self.attributes)}


class ModelVector(np.ndarray):
    """A read-only float32 vector that remembers the model version that made it (what :meth:`Catalog.embedding`
    returns), so a profile fed with it is refused against another model's catalog. Otherwise a numpy array."""

    model_version: str | None

    def __new__(cls, values: np.ndarray, model_version: str | None) -> "ModelVector":
        obj = np.asarray(values, np.float32).view(cls)
        obj.model_version = model_version
        obj.flags.writeable = False
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.model_version = getattr(obj, "model_version", None)


class Catalog:
    """Coffees and their unit embeddings [N, dim] from one model version.

    Build one from your own coffees with :meth:`from_records` (embeds one record per coffee) or
    :meth:`from_embeddings` (vectors you embedded already); :meth:`save` / :meth:`load` keep it as JSON.
    """

    def __init__(self, items: list[CatalogItem], embeddings: np.ndarray, model_version: str,
                 description: str = "") -> None:
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(items):
            raise CatalogError(f"catalog has {len(items)} items but embeddings of shape {emb.shape}")
        if not np.isfinite(emb).all():
            raise CatalogError("catalog embeddings have NaN or infinite values")
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise CatalogError("catalog item ids are not unique")
        norms = np.linalg.norm(emb.astype(np.float64), axis=1, keepdims=True)
        if (norms == 0).any():
            raise CatalogError("catalog has a zero embedding")
        off = np.abs(norms[:, 0] - 1.0) > 1e-5  # leave unit rows bit-exact (save / load round trips)
        emb = emb.copy()
        emb[off] = (emb[off] / norms[off]).astype(np.float32)
        self.items = list(items)
        self.embeddings = emb
        self.model_version = model_version
        self.description = description
        self._index = {it.id: i for i, it in enumerate(items)}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._index

    def item(self, item_id: str) -> CatalogItem:
        if item_id not in self._index:
            raise KeyError(f"no catalog item {item_id!r}")
        return self.items[self._index[item_id]]

    def embedding(self, item_id: str) -> ModelVector:
        """The item's unit vector (read-only), carrying this catalog's model version."""
        self.item(item_id)
        return ModelVector(self.embeddings[self._index[item_id]], self.model_version)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_records(cls, embedder: Any, coffees: Iterable[tuple[CatalogItem | Mapping[str, Any], Any]],
                     description: str = "") -> "Catalog":
        """A catalog of your own coffees: each ``(item, record)`` pair's record embedded with ``embedder`` (an
        :class:`~taste2vec.Embedder`). ``item`` is a :class:`CatalogItem` or a dict of its fields (``id``
        required); an item without attributes gets the record's lexicon attributes.

        Raises:
          RecordValidationError: a record is invalid (the field is prefixed with ``coffees[i].record``).
          CatalogError: an item is malformed, ids repeat, or there are no coffees.
        """
        items, vectors = [], []
        for i, (item, record) in enumerate(coffees):
            item = _as_item(item, f"coffees[{i}].item")
            try:
                r = embedder.embed(record)
            except RecordValidationError as e:
                raise e.nest_under(f"coffees[{i}].record")
            if not item.attributes:
                item = replace(item, attributes=dict(r.attributes))
            items.append(item)
            vectors.append(r.embedding)
        if not items:
            raise CatalogError("no coffees: give at least one (item, record) pair")
        return cls(items, np.stack(vectors), embedder.model_version, description)

    @classmethod
    def from_embeddings(cls, items: Iterable[CatalogItem | Mapping[str, Any]], embeddings: Any,
                        model_version: str | None = None, description: str = "") -> "Catalog":
        """A catalog from vectors you already have: ``embeddings`` is a list of
        :class:`~taste2vec.EmbeddingResult` (their model version is the catalog's) or an array [N, dim] together
        with ``model_version`` (the bundle's ``model_id`` that made them).

        Raises:
          CatalogError: the items and vectors do not pair up, the vectors come from several models (or an array
            without ``model_version``), or an item is malformed.
        """
        items = [_as_item(it, f"items[{i}]") for i, it in enumerate(items)]
        embeddings = list(embeddings) if not isinstance(embeddings, np.ndarray) else embeddings
        found = {getattr(e, "model_version", None) for e in embeddings} - {None}
        if len(found) > 1:
            raise CatalogError(f"the embeddings come from several models ({', '.join(sorted(found))}): a "
                               "catalog holds one model's vectors")
        if model_version and found and model_version not in found:
            raise CatalogError(f"model_version {model_version} does not match the embeddings' {next(iter(found))}")
        version = model_version or next(iter(found), None)
        if version is None:
            raise CatalogError("model_version is required for plain vectors (the bundle's model_id, e.g. "
                               "embedder.model_version), so profiles of another model are refused")
        if not items:
            raise CatalogError("no coffees: give at least one item and its vector")
        return cls(items, np.asarray([getattr(e, "embedding", e) for e in embeddings], np.float32), version,
                   description)

    def similar(self, vector: np.ndarray, k: int = 5, exclude: Iterable[str] = ()) -> list[tuple[CatalogItem, float]]:
        """The ``k`` items most cosine-similar to ``vector``."""
        v = np.asarray(getattr(vector, "embedding", vector), np.float64)
        if v.shape != (self.embeddings.shape[1],) or not np.isfinite(v).all() or not v.any():
            raise CatalogError(f"query must be a finite non-zero vector of {self.embeddings.shape[1]} numbers")
        sims = self.embeddings @ (v / np.linalg.norm(v))
        skip = set(exclude)
        order = [i for i in np.argsort(-sims, kind="stable") if self.items[i].id not in skip]
        return [(self.items[i], float(sims[i])) for i in order[:k]]

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        emb = np.ascontiguousarray(self.embeddings, dtype="<f4")
        return {"format": CATALOG_FORMAT, "model": self.model_version, "description": self.description,
                "items": [it.to_dict() for it in self.items],
                "embeddings": {"dtype": "float32-le", "shape": list(emb.shape),
                               "base64": base64.b64encode(emb.tobytes()).decode("ascii")}}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Catalog":
        if not isinstance(d, Mapping) or d.get("format") != CATALOG_FORMAT:
            raise CatalogError(f"not a catalog (format {d.get('format') if isinstance(d, Mapping) else None!r}, "
                               f"expected {CATALOG_FORMAT})")
        try:
            items = [CatalogItem(str(i["id"]), str(i["name"]), i.get("roaster", ""), i.get("origin", ""),
                                 i.get("roast", ""), i.get("rating"), dict(i.get("attributes") or {}))
                     for i in d["items"]]
            e = d["embeddings"]
            if e.get("dtype") != "float32-le":
                raise ValueError(f"embedding dtype {e.get('dtype')!r}")
            emb = np.frombuffer(base64.b64decode(e["base64"], validate=True), dtype="<f4").reshape(e["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise CatalogError(f"malformed catalog: {err}") from err
        return cls(items, emb.astype(np.float32), str(d["model"]), d.get("description", ""))

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        """Read a catalog file (bounded JSON: 64 MB, 32 levels); CatalogError otherwise."""
        return cls.from_dict(read_json(path, CatalogError, "catalog", max_bytes=64 << 20))

    @classmethod
    def default(cls) -> "Catalog":
        """The demo catalog shipped with the SDK (embeddings from the default bundle)."""
        return cls.from_dict(json.loads(resources.files("taste2vec").joinpath("assets/demo_catalog.json")
                                        .read_text(encoding="utf-8")))


def _as_item(item: CatalogItem | Mapping[str, Any], where: str) -> CatalogItem:
    if isinstance(item, CatalogItem):
        return item
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
        raise CatalogError(f"{where}: expected a CatalogItem or a dict with a non-empty string 'id'")
    unknown = set(item) - set(CatalogItem.__dataclass_fields__)
    if unknown:
        raise CatalogError(f"{where}: unknown fields {sorted(unknown)} (allowed: "
                           f"{', '.join(CatalogItem.__dataclass_fields__)})")
    try:
        return CatalogItem(**{**item, "name": str(item.get("name") or item["id"]),
                              "attributes": dict(item.get("attributes") or {})})
    except (TypeError, ValueError) as e:
        raise CatalogError(f"{where}: {e}") from None


@dataclass(frozen=True)
class Recommendation:
    """A pick: the item, its predicted liking, and why."""

    item: CatalogItem
    score: float
    because: tuple[str, ...]
    similar_to: str | None
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item.to_dict(), "score": round(self.score, 4), "because": list(self.because),
                "similar_to": self.similar_to, "explanation": self.explanation}


def _leaf(path: str) -> str:
    return path.split(" > ")[-1]


def _explain(item: CatalogItem, profile: TasteProfile, emb: np.ndarray, catalog: Catalog,
             n: int = 3) -> tuple[tuple[str, ...], str | None, str]:
    aff = profile.attribute_affinity
    matched = sorted(((a, aff[a] * w) for a, w in item.attributes.items() if aff.get(a, 0) > 0 and w > 0),
                     key=lambda t: (-t[1], t[0]))[:n]
    because = tuple(a for a, _ in matched)
    liked = [(i, e) for i, e in profile.liked_items() if i != item.id]
    similar = max(liked, key=lambda t: float(t[1] @ emb))[0] if liked else None
    parts = []
    if because:
        parts.append("matches flavours you liked: " + ", ".join(_leaf(a) for a in because))
    if similar is not None:
        name = catalog.item(similar).name if similar in catalog else similar
        parts.append(f"close to {name}, which you liked")
    if not parts:
        top = sorted(item.attributes.items(), key=lambda t: (-t[1], t[0]))[:n]
        parts.append("no feedback to match yet; its profile: " + ", ".join(_leaf(a) for a, _ in top)
                     if profile.is_empty else "predicted from your ratings; its profile: " +
                     ", ".join(_leaf(a) for a, _ in top))
    return because, similar, "; ".join(parts)


def recommend(profile: TasteProfile, catalog: Catalog, k: int = 5, exclude: Iterable[str] = (),
              diversity: float = 0.0) -> list[Recommendation]:
    """The ``k`` catalog coffees the profile should like most (ids in ``exclude`` skipped; unknown ids ignored).

    With an empty profile every coffee scores 0 and ``diversity`` alone orders the picks (a varied starter set).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise OutOfRangeError("k", f"got {k!r}", "an integer >= 1", k)
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
        raise OutOfRangeError("diversity", f"got {diversity!r}", "a number in [0, 1]", diversity)
    if profile.model_version is not None and profile.model_version != catalog.model_version:
        raise CatalogError(f"the profile holds {profile.model_version} vectors but the catalog was embedded with "
                           f"{catalog.model_version}; re-embed the catalog with the profile's model")
    if profile.dim != catalog.embeddings.shape[1]:
        raise CatalogError(f"profile dim {profile.dim} != catalog dim {catalog.embeddings.shape[1]}")
    skip = set(exclude)
    cand = np.array([i for i, it in enumerate(catalog.items) if it.id not in skip], dtype=np.int64)
    if cand.size == 0:
        return []
    rel = profile.score(catalog.embeddings[cand]).astype(np.float64)
    picks: list[int] = []
    if diversity == 0.0:
        picks = list(np.argsort(-rel, kind="stable")[:k])
    else:
        span = rel.max() - rel.min()
        scaled = (rel - rel.min()) / span if span > 0 else np.zeros_like(rel)
        emb = catalog.embeddings[cand].astype(np.float64)
        max_sim = np.full(len(cand), -np.inf)
        chosen = np.zeros(len(cand), bool)
        for _ in range(min(k, len(cand))):
            red = np.where(np.isfinite(max_sim), max_sim, 0.0)
            mmr = (1 - diversity) * scaled - diversity * red
            mmr[chosen] = -np.inf
            j = int(np.argmax(mmr))
            picks.append(j)
            chosen[j] = True
            max_sim = np.maximum(max_sim, emb @ emb[j])
    out = []
    for j in picks:
        idx = int(cand[j])
        item = catalog.items[idx]
        because, similar, text = _explain(item, profile, catalog.embeddings[idx], catalog)
        out.append(Recommendation(item, float(rel[j]), because, similar, text))
    return out
