"""Loaders for the real public data in ``../shared/data`` (see each folder's SOURCE.md).

- Coffee Review texts (English tasting prose, roast, rating): records with notes only. Review text is used
  for training and evaluation only and never copied into the repository or a bundle.
- CQI cupping scores (no text): records with the sensory metrics the spec shares with CQI.

Both are split by *coffee* (a normalized identity key hashed to train / val / test), so no coffee is in
two splits even when it was reviewed or graded more than once: the *dev* split.

Reviews have a second test split made differently, by time: ``recent``, every coffee with a review among the newest
:data:`RECENT_FRACTION` by review date (the coffees an app meets next). Its coffees leave the dev split's train and
val sets (:meth:`Review.in_split`), so a model is scored on both test splits without having seen either.
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
RECENT_FRACTION = 0.10
REVIEW_SPLITS = ("train", "val", "test", "recent")  # what Review.in_split takes
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), 1)}


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
    split: str  # the dev split (by coffee)
    recent: bool = False  # in the second test split (see the module docs)

    def in_split(self, name: str) -> bool:
        """``train`` / ``val``: the dev split's, without the recent coffees; ``test``: the dev test split;
        ``recent``: the second test split (the two test splits overlap where a dev test coffee is recent)."""
        if name == "recent":
            return self.recent
        if name not in REVIEW_SPLITS:
            raise ValueError(f"split {name!r}: one of {REVIEW_SPLITS}")
        return self.split == name and (name == "test" or not self.recent)

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
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("desc_1") or "").strip()
            if text:
                rows.append((_key(row.get("name", ""), row.get("roaster", "")), text, row))
    recent = recent_keys([(key, _review_month(row.get("review_date", ""))) for key, _, row in rows])
    out = []
    for key, text, row in rows:
        roast = row.get("roast") if row.get("roast") in ROAST_LEVELS else None
        try:
            rating = float(row["rating"])
        except (KeyError, ValueError):
            rating = None
        out.append(Review(key, text, roast, rating, row.get("origin_1", ""), split_of(key), key in recent))
    return out


def _review_month(date: str) -> tuple[int, int] | None:
    """(year, month) of a review date written ``YY-Mon`` (``22-Oct``); None when it is not one."""
    year, _, month = date.strip().partition("-")
    if not (year.isdigit() and month in _MONTHS):
        return None
    return 2000 + int(year), _MONTHS[month]


def recent_keys(dated: list[tuple[str, tuple[int, int] | None]], fraction: float = RECENT_FRACTION) -> set[str]:
    """The coffees with a review in the newest months that hold at least ``fraction`` of the dated reviews
    (a month is never cut in two)."""
    months = sorted((m for _, m in dated if m is not None), reverse=True)
    if not months:
        return set()
    cutoff = months[min(len(months) - 1, max(0, int(fraction * len(months)) - 1))]
    return {key for key, m in dated if m is not None and m >= cutoff}


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
