"""Loaders for the real public data in ``../shared/data`` (see each folder's SOURCE.md).

- Coffee Review texts (English tasting prose, roast, rating): records with notes only. Review text is used
  for training and evaluation only and never copied into the repository or a bundle.
- CQI cupping scores (no text): records with the sensory metrics the spec shares with CQI.

Both are split by *coffee* (a normalized identity key hashed to train / val / test), so no coffee is in
two splits even when it was reviewed or graded more than once.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from taste2vec.records import TastingRecord

from .paths import data_root, require

ROAST_LEVELS = ("Light", "Medium-Light", "Medium", "Medium-Dark", "Dark")
# CQI column -> record-spec metric (both 0-10)
CQI_METRICS = {"Aroma": "aroma", "Flavor": "flavor", "Aftertaste": "aftertaste", "Acidity": "acidity",
               "Body": "body", "Balance": "balance", "Clean.Cup": "clean_cup", "Sweetness": "sweetness"}
_SENT = re.compile(r"(?<=[.;!?])\s+")


def split_sentences(text: str) -> list[str]:
    """A review's sentences (split after . ; ! ?), empty pieces dropped."""
    return [s for s in _SENT.split(text.strip()) if s]


def split_of(key: str, val: float = 0.15, test: float = 0.15) -> str:
    """Stable split from a coffee key (sha256, not Python's salted hash)."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "val" if u < test + val else "train"


def _key(*parts: str) -> str:
    return "|".join(re.sub(r"\s+", " ", p or "").strip().lower() for p in parts)


@dataclass(frozen=True)
class Review:
    coffee_key: str
    text: str
    roast: str | None
    rating: float | None
    origin: str
    split: str

    def halves(self) -> tuple[str, str] | None:
        """Two disjoint halves of the review's sentences (odd / even), standing for two tastings."""
        sents = split_sentences(self.text)
        if len(sents) < 2:
            return None
        return " ".join(sents[0::2]), " ".join(sents[1::2])

    def record(self) -> TastingRecord:
        return TastingRecord(notes=self.text)


@dataclass(frozen=True)
class Cupping:
    coffee_key: str
    metrics: dict
    total: float
    country: str
    species: str
    split: str

    def record(self) -> TastingRecord:
        return TastingRecord(metrics=self.metrics)


def load_reviews(path: Path | None = None) -> list[Review]:
    """Coffee Review rows with a description; roast outside the 5 levels becomes None."""
    path = path or require(data_root() / "coffee_reviews" / "coffee_reviews.csv", "coffee reviews")
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("desc_1") or "").strip()
            if not text:
                continue
            key = _key(row.get("name", ""), row.get("roaster", ""))
            roast = row.get("roast") if row.get("roast") in ROAST_LEVELS else None
            try:
                rating = float(row["rating"])
            except (KeyError, ValueError):
                rating = None
            out.append(Review(key, text, roast, rating, row.get("origin_1", ""), split_of(key)))
    return out


def load_cqi(folder: Path | None = None) -> list[Cupping]:
    """CQI arabica + robusta rows with all eight shared scores and a total in (0, 100]."""
    folder = folder or require(data_root() / "cqi_cupping", "CQI cupping data")
    out = []
    for name in ("arabica_data_cleaned.csv", "robusta_data_cleaned.csv"):
        path = folder / name
        if not path.exists():
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    metrics = {m: float(row[c]) for c, m in CQI_METRICS.items()}
                    total = float(row["Total.Cup.Points"])
                except (KeyError, ValueError):
                    continue
                if not 0 < total <= 100 or any(not 0 <= v <= 10 for v in metrics.values()):
                    continue
                key = _key(row.get("Owner", ""), row.get("Farm.Name", ""), row.get("Country.of.Origin", ""),
                           row.get("Region", ""))
                out.append(Cupping(key, metrics, total, row.get("Country.of.Origin", ""), row.get("Species", ""),
                                   split_of(key)))
    return out
