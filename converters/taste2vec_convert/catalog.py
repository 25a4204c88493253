"""Build a curation catalog (``taste2vec.catalog/1``) from the public Coffee Review rows with a bundle's model.

Each coffee becomes a record (the review text as notes, the roast as ``roast_level``) embedded by the SDK's
``Embedder``; the catalog keeps the name, roaster, origin, roast, rating, the strongest lexicon attributes and
the vector, never the review text (the data's SOURCE.md forbids shipping it). Selection is deterministic: the
coffees with the smallest sha256 of their identity key, one row per coffee.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from taste2vec.curation import Catalog, CatalogItem
from taste2vec.embedder import Embedder
from taste2vec.records import TastingRecord
from taste2vec_reference.paths import data_root, require
from taste2vec_reference.real_data import ROAST_LEVELS

# Coffee Review roast names -> record-spec roast_level (0 = lightest, 10 = darkest)
ROAST_LEVEL = dict(zip(ROAST_LEVELS, (2.0, 3.5, 5.0, 6.5, 8.0)))


def build_catalog(bundle: str | Path, size: int = 150, csv_path: str | Path | None = None,
                  attributes: int = 6, **trust) -> Catalog:
    """A catalog of ``size`` reviewed coffees embedded with the bundle at ``bundle`` (``trust``: ``trusted_keys`` /
    ``allow_unsigned``, as :meth:`Embedder.create_from_model_path` takes them)."""
    path = Path(csv_path) if csv_path else require(data_root() / "coffee_reviews" / "coffee_reviews.csv",
                                                   "coffee reviews")
    rows: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("desc_1") or "").strip()
            if not text or not row.get("name"):
                continue
            key = hashlib.sha256(f"{row['name'].strip().lower()}|{row.get('roaster', '').strip().lower()}"
                                 .encode("utf-8")).hexdigest()
            rows.setdefault(key, row)
    chosen = sorted(rows)[:size]
    items, vectors = [], []
    with Embedder.create_from_model_path(bundle, **trust) as emb:
        for key in chosen:
            row = rows[key]
            metrics = {"roast_level": ROAST_LEVEL[row["roast"]]} if row.get("roast") in ROAST_LEVEL else {}
            res = emb.embed(TastingRecord(notes=row["desc_1"].strip(), metrics=metrics))
            try:
                rating = float(row["rating"])
            except (KeyError, ValueError):
                rating = None
            top = dict(list(res.attributes.items())[:attributes])
            origin = ", ".join(o for o in (row.get("origin_1", ""), row.get("origin_2", "")) if o)
            items.append(CatalogItem(f"cr-{key[:10]}", row["name"].strip(), row.get("roaster", "").strip(), origin,
                                     row.get("roast", ""), rating, top))
            vectors.append(res.embedding)
        version = emb.model_version
    return Catalog(items, np.stack(vectors), version,
                   description=f"{len(items)} coffees from public Coffee Review rows (names, origins, roast, rating; "
                               f"flavour attributes derived by the sensory lexicon; review text not included), "
                               f"embedded with {version}")
