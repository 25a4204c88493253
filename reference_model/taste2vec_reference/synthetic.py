"""A deterministic synthetic "taste world" with ground truth.

Coffees have latent flavour profiles over the sensory lexicon's nodes, driven by origin, process and
roast; tasters write notes in English, Korean or both (synonyms, misspellings, negation, intensity
words, filler), record noisy metrics with their own biases, and live in contexts that shift their
perception a little; users have flavour and roast preferences and give liked / disliked feedback.

Everything is a pure function of ``(seed, ids)``: ``world.record(coffee_id, k)`` is the k-th tasting of
a coffee and is the same on every machine, so streams of millions of records need O(1) memory.
Coffees are split into train / val / test by id, so no coffee is in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import ContextSnapshot, TastingRecord
from taste2vec.spec import default_spec

SPLITS = ("train", "val", "test")
# intensity metrics the world knows the truth of (the aux-head targets)
TRUTH_METRICS = ("acidity", "sweetness", "bitterness", "body", "aftertaste", "balance", "aroma", "flavor",
                 "clean_cup", "roast_level")

ORIGINS: dict[str, dict[str, float]] = {
    "Ethiopia": {"Floral > Floral > Jasmine": 3, "Floral > Black Tea": 2, "Fruity > Berry > Blueberry": 2,
                 "Fruity > Citrus Fruit > Lemon": 2, "Fruity > Other Fruit > Peach": 1.5, "Floral": 1,
                 "Sweet > Brown Sugar > Honey": 1},
    "Kenya": {"Fruity > Berry": 3, "Fruity > Citrus Fruit > Grapefruit": 2.5, "Fruity > Berry > Blackberry": 2,
              "Sour/Fermented > Alcohol/Fermented > Winey": 1.5, "Fruity > Other Fruit > Cherry": 1,
              "Mouthfeel > Juicy": 1.5},
    "Colombia": {"Sweet > Brown Sugar > Caramelized": 2.5, "Nutty/Cocoa > Cocoa > Chocolate": 2,
                 "Fruity > Other Fruit > Apple": 1.5, "Fruity > Other Fruit > Cherry": 1.5,
                 "Fruity > Citrus Fruit > Orange": 1, "Mouthfeel > Creamy": 1},
    "Brazil": {"Nutty/Cocoa > Nutty > Peanuts": 2, "Nutty/Cocoa > Nutty > Hazelnut": 2.5,
               "Nutty/Cocoa > Cocoa > Chocolate": 3, "Sweet > Brown Sugar > Caramelized": 1.5,
               "Roasted > Cereal > Malt": 1, "Mouthfeel > Full": 1},
    "Guatemala": {"Nutty/Cocoa > Cocoa > Dark Chocolate": 2, "Spices > Brown Spice > Cinnamon": 1.5,
                  "Fruity > Other Fruit > Apple": 1.5, "Sweet > Brown Sugar > Molasses": 1,
                  "Spices > Brown Spice > Clove": 1},
    "Sumatra": {"Other > Papery/Musty > Musty/Earthy": 3, "Green/Vegetative > Green/Vegetative > Herb-like": 2,
                "Spices > Pepper": 1.5, "Other > Papery/Musty > Woody": 1.5, "Roasted > Tobacco": 1,
                "Mouthfeel > Full": 2},
    "Costa Rica": {"Sweet > Brown Sugar > Honey": 2.5, "Fruity > Citrus Fruit > Orange": 2,
                   "Fruity > Other Fruit > Peach": 1.5, "Sweet > Brown Sugar > Maple Syrup": 1,
                   "Mouthfeel > Syrupy": 1},
    "Panama": {"Floral > Floral > Jasmine": 3, "Floral > Black Tea": 2.5, "Fruity > Other Fruit > Peach": 2,
               "Fruity > Citrus Fruit > Lime": 1, "Floral > Floral > Rose": 1.5},
    "Yemen": {"Fruity > Dried Fruit > Raisin": 2.5, "Sour/Fermented > Alcohol/Fermented > Winey": 2,
              "Spices > Brown Spice": 1.5, "Nutty/Cocoa > Cocoa": 1.5, "Fruity > Dried Fruit > Prune": 1},
    "Rwanda": {"Fruity > Other Fruit > Pomegranate": 2, "Floral > Black Tea": 2, "Fruity > Berry > Raspberry": 2,
               "Fruity > Other Fruit > Cherry": 1.5, "Sweet > Brown Sugar": 1},
    "Mexico": {"Nutty/Cocoa > Nutty > Almond": 2, "Nutty/Cocoa > Cocoa": 2, "Sweet > Vanilla": 1.5,
               "Spices > Brown Spice > Nutmeg": 1, "Mouthfeel > Creamy": 1},
    "Indonesia Java": {"Roasted > Pipe Tobacco": 1.5, "Other > Papery/Musty > Woody": 2,
                       "Nutty/Cocoa > Cocoa > Dark Chocolate": 2, "Spices > Pungent": 1, "Mouthfeel > Full": 1.5},
}
ORIGIN_KO = {"Ethiopia": "에티오피아", "Kenya": "케냐", "Colombia": "콜롬비아", "Brazil": "브라질",
             "Guatemala": "과테말라", "Sumatra": "수마트라", "Costa Rica": "코스타리카", "Panama": "파나마",
             "Yemen": "예멘", "Rwanda": "르완다", "Mexico": "멕시코", "Indonesia Java": "자바"}
PROCESSES: dict[str, dict[str, float]] = {
    "washed": {"Fruity > Citrus Fruit": 1.5, "Sour/Fermented > Sour > Citric Acid": 0.8, "Floral": 0.5},
    "natural": {"Fruity > Berry > Strawberry": 1.5, "Fruity > Berry": 1, "Sour/Fermented > Alcohol/Fermented > Winey": 1,
                "Fruity > Other Fruit > Pineapple": 0.8, "Mouthfeel > Syrupy": 0.8},
    "honey": {"Sweet > Brown Sugar > Honey": 1.5, "Sweet > Brown Sugar": 1, "Mouthfeel > Syrupy": 1},
    "anaerobic": {"Sour/Fermented > Alcohol/Fermented > Fermented": 2, "Sour/Fermented > Alcohol/Fermented > Whiskey": 1.5,
                  "Fruity > Other Fruit > Pineapple": 1, "Spices > Brown Spice > Cinnamon": 1},
}
ROAST_DARK = {"Roasted > Burnt > Smoky": 2, "Roasted > Burnt > Brown, Roast": 2, "Other > Chemical > Bitter": 1.5,
              "Nutty/Cocoa > Cocoa > Dark Chocolate": 1.5, "Roasted > Burnt > Ashy": 1, "Roasted > Cereal > Malt": 0.8,
              "Sweet > Brown Sugar > Molasses": 1}
ROAST_LIGHT = {"Floral": 1, "Fruity > Citrus Fruit": 1, "Sour/Fermented": 1, "Floral > Black Tea": 0.5,
               "Green/Vegetative > Green/Vegetative > Fresh": 0.3}
BREW_METHODS = ("pour_over", "espresso", "french_press", "cold_brew", "aeropress")

EN_TEMPLATES = ("{0}, {1} and {2}.", "Notes of {0} and {1}; {2} in the finish.", "Tastes like {0} with {1}, {2}.",
                "{0} up front, then {1}. {2}.", "I got {0}, {1}, {2}.", "Lovely {0}. {1} and {2} as it cools.",
                "{0} / {1} / {2}", "Really {0} cup with {1} and some {2}.")
KO_TEMPLATES = ("{0}, {1} 그리고 {2}.", "{0} 향이 나고 {1} 느낌, {2}.", "{0}와 {1}의 조화, 끝에 {2}.",
                "{0} 맛이 나요. {1}, {2}.", "{0} / {1} / {2}", "첫 모금에 {0}, 식으면서 {1} 그리고 {2}.")
EN_FILLER = ("Brewed this morning on my V60.", "Second bag from this roaster.", "Had it after lunch.",
             "Would buy again.", "Shared with a friend.", "", "", "")
KO_FILLER = ("오늘 아침에 핸드드립으로 마셨어요.", "이 로스터리 두 번째 원두.", "점심 먹고 한 잔.", "재구매 의사 있어요.",
             "친구랑 같이 마심.", "", "", "")
EN_NEG = ("no {0}", "without {0}", "not {0}", "zero {0}")
KO_NEG = ("{0} 없는", "{0}이 전혀 없고", "{0} 없음", "안 {0}")
EN_STRONG, EN_LIGHT = ("very", "strong", "intense", "bold", "deep"), ("light", "subtle", "hints of", "slight", "delicate")
KO_STRONG, KO_LIGHT = ("진한", "강한", "매우", "아주"), ("은은한", "약간", "살짝", "옅은")


@dataclass(frozen=True)
class WorldConfig:
    """Size and seed of a taste world."""

    seed: int = 0
    n_coffees: int = 2000
    n_tasters: int = 400
    n_users: int = 600
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    lang_mix: tuple[float, float, float] = (0.45, 0.4, 0.15)  # en, ko, mixed


@dataclass(frozen=True)
class Coffee:
    id: int
    origin: str
    process: str
    roast: float  # 0..10
    profile: np.ndarray = field(repr=False)  # float32[L] intensities 0..1 over lexicon nodes
    truth: dict = field(repr=False)  # TRUTH_METRICS -> 0..10
    categories: np.ndarray = field(repr=False)  # float32[n_categories] share of the profile
    split: str = "train"

    @property
    def top_category(self) -> int:
        return int(np.argmax(self.categories))


@dataclass(frozen=True)
class Taster:
    id: int
    lang: str  # "en" | "ko" | "mixed"
    typo_rate: float
    verbosity: int
    noise: float
    bias: dict = field(repr=False)
    diligence: float
    brew: str


@dataclass(frozen=True)
class User:
    id: int
    prefs: np.ndarray = field(repr=False)  # weight per category
    roast_pref: float
    split: str


@dataclass(frozen=True)
class SyntheticRecord:
    """A generated record and the truth behind it."""

    record: TastingRecord
    coffee_id: int
    taster_id: int
    lang: str


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


class TasteWorld:
    """The synthetic world; cheap to construct, everything derived from ``config.seed``."""

    def __init__(self, config: WorldConfig = WorldConfig(), lexicon: SensoryLexicon | None = None) -> None:
        self.config = config
        self.lexicon = lexicon or SensoryLexicon.default()
        self.spec = default_spec()
        lex = self.lexicon
        self.category_nodes = [n.index for n in lex.nodes if n.tier == "category"]
        self.category_names = [lex.nodes[i].name for i in self.category_nodes]
        self._cat_of = np.zeros(lex.dim, dtype=np.int64)
        for n in lex.nodes:
            root = n.index
            while lex.nodes[root].parent is not None:
                root = lex.nodes[root].parent
            self._cat_of[n.index] = self.category_nodes.index(root)
        # describable nodes: every node except the "Other" (defect) family, which only appears as a defect
        other = self.category_nodes[self.category_names.index("Other")]
        self._defect = np.array([self._cat_of[n.index] == self.category_nodes.index(other) for n in lex.nodes])
        # node -> itself and every descendant (a coffee "lacks" a node only if the whole subtree is absent)
        self._subtree = {n.index: [n.index] for n in lex.nodes}
        for n in lex.nodes:
            p = n.parent
            while p is not None:
                self._subtree[p].append(n.index)
                p = lex.nodes[p].parent
        # attributes a taster may say a coffee lacks ("no bitterness"); the first is Bitter
        self._negatable = [lex.node_by_path(p).index for p in ("Other > Chemical > Bitter", "Roasted > Burnt > Smoky",
                                                               "Sour/Fermented", "Roasted > Burnt")]
        self._terms = {}
        for t in lex.terms:
            self._terms.setdefault((t.node, t.lang, t.kind == "misspelling"), []).append(t.text)

    # ------------------------------------------------------------------ entities
    def _split_of(self, key: int, salt: int) -> str:
        u = _rng(self.config.seed, salt, key).random()
        c = self.config
        return "test" if u < c.test_fraction else "val" if u < c.test_fraction + c.val_fraction else "train"

    def _weights(self, table: dict[str, float], scale: float = 1.0) -> np.ndarray:
        w = np.zeros(self.lexicon.dim)
        for path, v in table.items():
            w[self.lexicon.node_by_path(path).index] += v * scale
        return w

    def coffee(self, cid: int) -> Coffee:
        """The coffee with id ``cid`` (0 <= cid < n_coffees)."""
        return self._coffees[cid]

    @cached_property
    def _coffees(self) -> list[Coffee]:
        return [self._make_coffee(i) for i in range(self.config.n_coffees)]

    def _make_coffee(self, cid: int) -> Coffee:
        rng = _rng(self.config.seed, 1, cid)
        origin = list(ORIGINS)[rng.integers(len(ORIGINS))]
        process = list(PROCESSES)[rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])]
        roast = float(np.clip(rng.choice([2.0, 4.5, 7.5], p=[0.4, 0.4, 0.2]) + rng.normal(0, 1.0), 0, 10))
        w = 0.05 * (~self._defect) + self._weights(ORIGINS[origin]) + self._weights(PROCESSES[process], 0.8)
        w += self._weights(ROAST_DARK, max(0.0, roast - 5) / 2.5) + self._weights(ROAST_LIGHT, max(0.0, 4 - roast) / 2.5)
        w = np.where(self._defect, 0.0, w)
        draw = rng.gamma(np.maximum(w, 1e-6) * 2.0) * (w > 0)
        k = int(rng.integers(4, 8))
        top = np.argsort(-draw)[:k]
        profile = np.zeros(self.lexicon.dim, dtype=np.float32)
        profile[top] = draw[top] / draw[top].max()
        if rng.random() < 0.08:  # an occasional defect
            defects = np.flatnonzero(self._defect & np.array([n.tier != "category" for n in self.lexicon.nodes]))
            profile[rng.choice(defects)] = rng.uniform(0.3, 0.8)
        cats = np.bincount(self._cat_of, weights=profile, minlength=len(self.category_nodes)).astype(np.float32)
        cats /= max(cats.sum(), 1e-6)
        share = {name: float(cats[i]) for i, name in enumerate(self.category_names)}
        quality = rng.normal(0, 1)
        fruit = share["Fruity"] + share["Sour/Fermented"] + 0.5 * share["Floral"]
        truth = {
            "acidity": 4.0 + 6.0 * fruit - 0.45 * (roast - 4) + rng.normal(0, 0.5),
            "sweetness": 5.0 + 5.0 * share["Sweet"] + 2.0 * share["Nutty/Cocoa"] + 0.5 * quality + rng.normal(0, 0.5),
            "bitterness": 1.5 + 0.65 * roast + 4.0 * share["Roasted"] + rng.normal(0, 0.5),
            "body": 3.5 + 0.35 * roast + (1.2 if process in ("natural", "honey") else 0) + 3 * share["Mouthfeel"]
            + rng.normal(0, 0.5),
            "aftertaste": 6.5 + 0.8 * quality + rng.normal(0, 0.3),
            "balance": 6.5 + 0.8 * quality - 2.0 * share["Other"] + rng.normal(0, 0.3),
            "aroma": 6.0 + 0.8 * quality + 2.0 * share["Floral"] + rng.normal(0, 0.3),
            "flavor": 6.5 + 0.9 * quality + rng.normal(0, 0.3),
            "clean_cup": 8.5 + 0.5 * quality - 6.0 * share["Other"] - (0.7 if process == "anaerobic" else 0)
            + rng.normal(0, 0.3),
            "roast_level": roast,
        }
        truth = {k: float(np.clip(v, 0, 10)) for k, v in truth.items()}
        return Coffee(cid, origin, process, roast, profile, truth, cats, self._split_of(cid, 2))

    def coffees(self, split: str | None = None) -> list[Coffee]:
        return [c for c in self._coffees if split is None or c.split == split]

    def taster(self, tid: int) -> Taster:
        rng = _rng(self.config.seed, 3, tid)
        lang = ("en", "ko", "mixed")[rng.choice(3, p=self.config.lang_mix)]
        bias = {m: float(rng.normal(0, 0.6)) for m in TRUTH_METRICS}
        return Taster(tid, lang, float(rng.choice([0.0, 0.05, 0.15], p=[0.5, 0.35, 0.15])), int(rng.integers(2, 6)),
                      float(rng.uniform(0.3, 1.0)), bias, float(rng.uniform(0.2, 1.0)),
                      BREW_METHODS[rng.choice(5, p=[0.4, 0.25, 0.1, 0.1, 0.15])])

    def user(self, uid: int) -> User:
        rng = _rng(self.config.seed, 4, uid)
        prefs = rng.normal(0, 1, len(self.category_nodes)) * (rng.random(len(self.category_nodes)) < 0.6)
        return User(uid, prefs.astype(np.float32), float(rng.uniform(1, 9)), self._split_of(uid, 5))

    def utility(self, user: User, coffee: Coffee) -> float:
        """How much a user enjoys a coffee (ground truth behind feedback)."""
        return float(3.0 * user.prefs @ coffee.categories - 0.25 * abs(coffee.roast - user.roast_pref)
                     + 0.3 * (coffee.truth["flavor"] - 7))

    def feedback(self, uid: int, split: str, n: int = 24) -> tuple[list[int], list[int]]:
        """A user's liked and disliked coffees among ``n`` coffees of ``split`` (top / bottom third)."""
        user = self.user(uid)
        pool = [c.id for c in self.coffees(split)]
        rng = _rng(self.config.seed, 6, uid, SPLITS.index(split))
        chosen = rng.choice(pool, size=min(n, len(pool)), replace=False)
        noisy = [self.utility(user, self.coffee(int(c))) + rng.normal(0, 0.15) for c in chosen]
        order = [int(chosen[i]) for i in np.argsort(noisy)[::-1]]
        third = len(order) // 3
        return order[:third], order[-third:]

    # ------------------------------------------------------------------ records
    def record(self, cid: int, k: int, lang: str | None = None, notes_only: bool = False,
               taster_id: int | None = None) -> SyntheticRecord:
        """The k-th tasting of coffee ``cid`` (deterministic). ``lang`` forces the notes' language."""
        rng = _rng(self.config.seed, 7, cid, k)
        coffee = self.coffee(cid)
        tid = int(rng.integers(self.config.n_tasters)) if taster_id is None else taster_id
        taster = self.taster(tid)
        lang = lang or taster.lang
        context = [] if notes_only else self._context(rng)
        notes = self._notes(rng, coffee, taster, lang)
        metrics = {} if notes_only else self._metrics(rng, coffee, taster, context)
        rec = TastingRecord(notes=notes, metrics=metrics, context=tuple(context))
        return SyntheticRecord(rec, cid, tid, lang)

    def iter_records(self, split: str = "train", n: int | None = None, start: int = 0) -> Iterator[SyntheticRecord]:
        """Stream records of a split's coffees, round-robin over coffees; infinite when ``n`` is None."""
        ids = [c.id for c in self.coffees(split)]
        i = start
        while n is None or i < start + n:
            yield self.record(ids[i % len(ids)], i // len(ids))
            i += 1

    def labelled_records(self, n_users: int, per_split: int = 24) -> Iterator[dict]:
        """An app's log in the bring-your-own format (see ``records_file``): for each of ``n_users`` users, a
        tasting of each coffee they liked or disliked (top / bottom third of ``per_split`` coffees per split),
        labelled with ``item_id``, ``user_id`` and ``liked``."""
        for uid in range(n_users):
            for split in SPLITS:
                liked, disliked = self.feedback(uid, split, per_split)
                for cid, like in [(c, True) for c in liked] + [(c, False) for c in disliked]:
                    rec = self.record(cid, 10_000 + uid).record
                    yield {"item_id": f"coffee-{cid:05d}", "user_id": f"user-{uid:04d}", "liked": like,
                           **rec.to_dict()}

    def _context(self, rng: np.random.Generator) -> list[ContextSnapshot]:
        n = int(rng.choice(9, p=[0.15, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15]))
        hour, day = int(rng.integers(6, 22)), int(rng.integers(7))
        temp, mood, energy, stress = rng.normal(15, 9), rng.uniform(2, 9), rng.uniform(1, 9), rng.uniform(0, 8)
        days = self.spec.context_fields[1].categories
        socials, places = self.spec.context_fields[8].categories, self.spec.context_fields[9].categories
        out = []
        for _ in range(n):
            snap = dict(hour=hour, weekday=days[day], weather_temp=round(float(np.clip(temp, -40, 50)), 1),
                        humidity=round(float(np.clip(rng.normal(60, 15), 0, 100))),
                        mood=round(float(np.clip(mood, 0, 10)), 1), stress=round(float(np.clip(stress, 0, 10)), 1),
                        energy=round(float(np.clip(energy, 0, 10)), 1), hunger=round(float(rng.uniform(0, 10)), 1),
                        social=socials[rng.choice(5, p=[0.5, 0.15, 0.15, 0.1, 0.1])],
                        location=places[rng.choice(6, p=[0.4, 0.25, 0.2, 0.05, 0.05, 0.05])])
            for key in list(snap):
                if rng.random() < 0.1:
                    snap[key] = None
            out.append(ContextSnapshot(**snap))
            step = int(rng.integers(2, 10))
            hour, day = (hour + step) % 24, (day + (hour + step) // 24) % 7
            temp += rng.normal(0, 2)
            mood, energy, stress = mood + rng.normal(0, 1), energy + rng.normal(0, 1.5), stress + rng.normal(0, 1)
        return out

    def _metrics(self, rng, coffee: Coffee, taster: Taster, context: Sequence[ContextSnapshot]) -> dict[str, float]:
        spec = self.spec
        now = context[-1] if context else None
        shift = dict.fromkeys(TRUTH_METRICS, 0.0)
        if now is not None:  # context nudges perception a little
            if now.energy is not None and now.energy < 3:
                shift["bitterness"] += 0.6
            if now.stress is not None and now.stress > 6:
                shift["acidity"] += 0.5
            if now.hunger is not None and now.hunger > 7:
                shift["sweetness"] += 0.5
            if now.weather_temp is not None and now.weather_temp > 27:
                shift["body"] -= 0.4
        out: dict[str, float] = {}
        for m in TRUTH_METRICS:
            if rng.random() < taster.diligence:
                v = coffee.truth[m] + taster.bias[m] + shift[m] + rng.normal(0, taster.noise)
                out[m] = round(float(np.clip(v, 0, 10)), 1)
        b = taster.brew
        brew = {
            "pour_over": dict(temperature=(93, 2), grind_size=(700, 80), brew_ratio=(16, 1), brew_time=(200, 30),
                              dose=(16, 2), tds=(1.35, 0.1), extraction_yield=(20, 1.5)),
            "espresso": dict(temperature=(93, 1), grind_size=(260, 30), brew_ratio=(2.2, 0.3), brew_time=(28, 4),
                             dose=(18.5, 1), tds=(9.5, 1.2), extraction_yield=(20, 1.5)),
            "french_press": dict(temperature=(95, 2), grind_size=(1100, 100), brew_ratio=(15, 1), brew_time=(240, 30),
                                 dose=(30, 4), tds=(1.3, 0.1), extraction_yield=(19, 1.5)),
            "cold_brew": dict(temperature=(8, 5), grind_size=(1200, 100), brew_ratio=(8, 1.5), brew_time=(57600, 7200),
                              dose=(80, 10), tds=(2.5, 0.5), extraction_yield=(18, 2)),
            "aeropress": dict(temperature=(85, 4), grind_size=(500, 80), brew_ratio=(14, 2), brew_time=(100, 20),
                              dose=(15, 2), tds=(1.5, 0.2), extraction_yield=(19, 1.5)),
        }[b]
        for name, (mu, sd) in brew.items():
            if rng.random() < taster.diligence * (0.5 if name in ("tds", "extraction_yield") else 1.0):
                ms = spec.metric(name)
                out[name] = round(float(np.clip(rng.normal(mu, sd), ms.min, ms.max)), 2)
        if "dose" in out and "brew_ratio" in out and rng.random() < taster.diligence:
            out["water"] = round(float(np.clip(out["dose"] * out["brew_ratio"], 10, 3000)), 1)
        if rng.random() < taster.diligence:
            out["days_since_roast"] = float(rng.integers(2, 45))
        if rng.random() < taster.diligence * 0.5:
            out["water_hardness"] = float(np.clip(rng.normal(90, 40), 0, 500).round())
        return out

    # ------------------------------------------------------------------ notes
    def _surface(self, rng, node: int, lang: str, typo_rate: float) -> str:
        if rng.random() < typo_rate and (node, lang, True) in self._terms:
            return str(rng.choice(self._terms[(node, lang, True)]))
        forms = self._terms.get((node, lang, False)) or self._terms.get((node, "en", False))
        word = str(rng.choice(forms))
        if lang == "en" and rng.random() < typo_rate and len(word) >= 6:
            i = int(rng.integers(1, len(word) - 1))
            op = rng.integers(3)
            word = word[:i] + word[i + 1:] if op == 0 else word[:i] + word[i] + word[i:] if op == 1 else \
                word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
        return word

    def _phrase(self, rng, node: int, strength: float, lang: str, taster: Taster) -> str:
        word = self._surface(rng, node, lang, taster.typo_rate)
        strong, light = (KO_STRONG, KO_LIGHT) if lang == "ko" else (EN_STRONG, EN_LIGHT)
        if strength > 0.85 and rng.random() < 0.5:
            return f"{rng.choice(strong)} {word}"
        if strength < 0.4 and rng.random() < 0.6:
            return f"{rng.choice(light)} {word}"
        return word

    def _notes(self, rng, coffee: Coffee, taster: Taster, lang: str) -> str:
        present = np.flatnonzero(coffee.profile > 0)
        p = coffee.profile[present] ** 1.5
        k = min(len(present), max(1, taster.verbosity + int(rng.integers(-1, 2))))
        picked = rng.choice(present, size=k, replace=False, p=p / p.sum())
        phrases = []
        for node in picked:
            word_lang = lang if lang != "mixed" else ("en" if rng.random() < 0.4 else "ko")
            phrases.append(self._phrase(rng, int(node), float(coffee.profile[node]), word_lang, taster))
        if rng.random() < 0.05:  # perception noise: a spurious descriptor
            phrases.append(self._surface(rng, int(rng.integers(self.lexicon.dim)), "en" if lang == "en" else "ko", 0))
        base_lang = "en" if lang == "en" else "ko"
        # negation of something the coffee clearly lacks
        if rng.random() < 0.3:
            lacks = [n for n in self._negatable if not coffee.profile[self._subtree[n]].any() and
                     not (n == self._negatable[0] and coffee.truth["bitterness"] > 5)]
            if lacks:
                word = self._surface(rng, int(rng.choice(lacks)), base_lang, 0)
                phrases.append(str(rng.choice(KO_NEG if base_lang == "ko" else EN_NEG)).format(word))
        templates = KO_TEMPLATES if base_lang == "ko" else EN_TEMPLATES
        parts = []
        for i in range(0, len(phrases), 3):
            chunk = phrases[i:i + 3]
            if len(chunk) == 3:
                parts.append(str(rng.choice(templates)).format(*chunk))
            else:
                parts.append(", ".join(chunk) + ".")
        if rng.random() < 0.5:
            parts.insert(0, ORIGIN_KO[coffee.origin] + " 원두." if base_lang == "ko" else coffee.origin + " beans.")
        filler = str(rng.choice(KO_FILLER if base_lang == "ko" else EN_FILLER))
        if filler:
            parts.append(filler)
        text = " ".join(parts)
        if rng.random() < 0.3:
            text = text.lower()
        return text
