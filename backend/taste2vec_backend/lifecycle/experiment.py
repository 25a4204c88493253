"""A/B experiment analysis: metrics from feedback events, sample size, and a sequential decision that stays valid
when it is checked repeatedly.

The decision rule, for a rate metric such as the like rate of recommendations (control ``a`` = the production model,
treatment ``b`` = the candidate), with margin ``m`` = 5 % relative:

- **promote** when ``b`` is significantly better by more than ``m``: reject ``H0: p_b <= (1 + m) p_a``;
- **roll back** when ``b`` is significantly worse by more than ``m``: reject ``H0: p_b >= (1 - m) p_a``;
- else **continue**, and at the planned maximum sample **stop** (keep production: no difference beyond ``m``).

Each side is a one-sided Wald test of the shifted null, ``z = (p_b - (1 + m) p_a) / se``, at level ``alpha / 2``.
Looking at the data after every batch would inflate the error rate (peeking); the design therefore plans ``K``
equally spaced looks and uses O'Brien-Fleming-shaped boundaries ``c_k = C sqrt(K / k)``, with ``C`` calibrated by
simulation (seeded) so that the chance of crossing at *any* look under the boundary null is ``alpha / 2``. The
maximum sample is the fixed-horizon sample size times the inflation that keeps the planned power.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np

EVENT_TYPES = ("shown", "like", "dislike", "rating", "open")


def _norm_ppf(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation refined by one Newton step; |err| < 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability {p} not in (0, 1)")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p > 1 - lo:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    return x - e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class ArmStats:
    """Successes out of trials of one arm (e.g. likes out of recommendations shown).

    ``variance`` is the variance of the rate estimate when trials are clustered (several recommendations per
    user: the user is the unit of randomization, so impressions are not independent). :func:`clustered` computes
    it from per-user counts; without it the binomial variance is used.
    """

    n: int
    successes: int
    variance: float | None = None

    def __post_init__(self) -> None:
        if self.n < 0 or not 0 <= self.successes <= self.n:
            raise ValueError(f"need 0 <= successes <= n, got {self.successes} of {self.n}")

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else float("nan")


def clustered(trials: np.ndarray, successes: np.ndarray) -> ArmStats:
    """An arm from per-user trials and successes, with the ratio estimator's cluster-robust variance
    ``sum_u (s_u - p t_u)^2 / (n (n - 1) tbar^2)``."""
    t = np.asarray(trials, np.float64)
    s = np.asarray(successes, np.float64)
    n_users = len(t)
    total_t, total_s = float(t.sum()), float(s.sum())
    if n_users < 2 or total_t == 0:
        return ArmStats(int(total_t), int(total_s))
    p = total_s / total_t
    resid = s - p * t
    var = float((resid ** 2).sum() / (n_users * (n_users - 1) * (total_t / n_users) ** 2))
    return ArmStats(int(total_t), int(total_s), var)


def margin_z(a: ArmStats, b: ArmStats, margin: float, direction: str) -> float:
    """Wald z of ``b`` better (``direction="better"``) or worse than ``a`` by more than ``margin`` (relative).

    Rates use one pseudo-success and one pseudo-failure per arm in the variance (Agresti-Caffo), so an arm at 0 %
    or 100 % does not give an infinite z.
    """
    if a.n == 0 or b.n == 0:
        return 0.0
    k = 1.0 + margin if direction == "better" else 1.0 - margin
    pa, pb = a.rate, b.rate
    if a.variance is not None and b.variance is not None and a.variance + b.variance > 0:
        se = math.sqrt(b.variance + k * k * a.variance)
    else:
        va = (a.successes + 1) / (a.n + 2)
        vb = (b.successes + 1) / (b.n + 2)
        se = math.sqrt(vb * (1 - vb) / b.n + k * k * va * (1 - va) / a.n)
    diff = pb - k * pa if direction == "better" else k * pa - pb
    return diff / se


def two_proportion_ztest(a: ArmStats, b: ArmStats) -> tuple[float, float]:
    """Classic pooled two-proportion z-test of ``p_b != p_a``: ``(z, two-sided p)``."""
    pooled = (a.successes + b.successes) / (a.n + b.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
    if se == 0:
        return 0.0, 1.0
    z = (b.rate - a.rate) / se
    return z, 2 * norm_sf(abs(z))


def fixed_sample_size(p_control: float, lift: float, margin: float = 0.05, alpha: float = 0.05,
                      power: float = 0.8) -> int:
    """Users (trials) per arm for a one-look test to detect a true relative ``lift`` beyond ``margin``.

    One-sided level ``alpha / 2`` (each direction of the decision rule gets half of ``alpha``).
    """
    if not 0 < p_control < 1 or abs(lift) <= margin:
        raise ValueError("need 0 < p_control < 1 and |lift| > margin")
    k = 1 + margin if lift > 0 else 1 - margin
    p1 = min(max(p_control * (1 + lift), 1e-9), 1 - 1e-9)
    var = p1 * (1 - p1) + k * k * p_control * (1 - p_control)
    za, zb = _norm_ppf(1 - alpha / 2), _norm_ppf(power)
    return int(math.ceil((za + zb) ** 2 * var / (p1 - k * p_control) ** 2))


@dataclass(frozen=True)
class SequentialDesign:
    """A group-sequential plan: ``looks`` equally spaced analyses up to ``max_n`` trials per arm.

    Build with :meth:`plan`. ``boundaries[k-1]`` is the z a side must exceed at look ``k``.
    """

    looks: int
    max_n: int
    boundaries: tuple[float, ...]
    alpha: float
    power: float
    margin: float
    p_control: float
    lift: float
    inflation: float

    @classmethod
    def plan(cls, p_control: float, lift: float = 0.15, margin: float = 0.05, alpha: float = 0.05,
             power: float = 0.8, looks: int = 5, seed: int = 0, paths: int = 200_000) -> "SequentialDesign":
        """Boundaries calibrated to ``alpha / 2`` per side over all looks; ``max_n`` keeps ``power`` at ``lift``."""
        if looks < 1:
            raise ValueError("looks must be >= 1")
        rng = np.random.default_rng(seed)
        inc = rng.standard_normal((paths, looks))
        s = np.cumsum(inc, axis=1)
        k = np.arange(1, looks + 1)
        z0 = s / np.sqrt(k)  # z at each look under the null
        shape = np.sqrt(looks / k)
        target = alpha / 2

        def crossing(c: float, drift: float = 0.0) -> float:
            z = z0 + drift * np.sqrt(k / looks)
            return float(np.mean((z > c * shape).any(axis=1)))

        lo, hi = 0.5, 6.0
        for _ in range(60):  # bisection on C: P(cross under H0) = alpha/2
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if crossing(mid) > target else (lo, mid)
        c = (lo + hi) / 2
        fixed_drift = _norm_ppf(1 - alpha / 2) + _norm_ppf(power)  # final-look drift of the fixed design
        lo_r, hi_r = 1.0, 2.0
        for _ in range(40):  # bisection on the inflation R: power at drift fixed_drift * sqrt(R)
            mid = (lo_r + hi_r) / 2
            lo_r, hi_r = (lo_r, mid) if crossing(c, fixed_drift * math.sqrt(mid)) >= power else (mid, hi_r)
        inflation = hi_r
        n_fixed = fixed_sample_size(p_control, lift, margin, alpha, power)
        return cls(looks, int(math.ceil(n_fixed * inflation)), tuple(float(c * x) for x in shape), alpha, power,
                   margin, p_control, lift, inflation)

    @property
    def n_per_look(self) -> int:
        """Trials per arm between two looks (the first look comes after this many)."""
        return math.ceil(self.max_n / self.looks)

    def look_of(self, n: int) -> int:
        """How many looks are due with ``n`` trials in the smaller arm (0 = not yet at the first look)."""
        return min(self.looks, int(n * self.looks // self.max_n))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SequentialDesign":
        """A design from its JSON form, checked field by field (``ValueError`` naming the field)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"design: expected a JSON object, got {type(d).__name__}")

        def number(k: str, value: Any, lo: float, hi: float) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"design.{k}: expected a number in [{lo:g}, {hi:g}], got {value!r}"[:200])
            return value

        missing = [k for k in cls.__dataclass_fields__ if k not in d]
        if missing:
            raise ValueError(f"design: missing {', '.join(missing)}")
        looks = int(number("looks", d["looks"], 1, 100))
        bounds = d["boundaries"]
        if not isinstance(bounds, (list, tuple)) or len(bounds) != looks:
            raise ValueError(f"design.boundaries: expected a list of {looks} numbers (one per look)")
        return cls(looks, int(number("max_n", d["max_n"], 1, 1e12)),
                   tuple(float(number(f"boundaries[{i}]", b, 0.0, 100.0)) for i, b in enumerate(bounds)),
                   *(float(number(k, d[k], 0.0, 1.0)) for k in ("alpha", "power", "margin", "p_control")),
                   float(number("lift", d["lift"], 0.0, 100.0)), float(number("inflation", d["inflation"], 1.0, 100.0)))


@dataclass(frozen=True)
class Decision:
    """What the rule says now: ``promote`` / ``rollback`` / ``continue`` / ``stop`` (keep production)."""

    action: str
    look: int
    z_better: float
    z_worse: float
    boundary: float | None
    lift: float
    control: ArmStats
    treatment: ArmStats
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["control_rate"], d["treatment_rate"] = self.control.rate, self.treatment.rate
        return d


def decide(control: ArmStats, treatment: ArmStats, design: SequentialDesign) -> Decision:
    """Apply the rule (module docs) at the latest look the data allow."""
    k = design.look_of(min(control.n, treatment.n))
    zb = margin_z(control, treatment, design.margin, "better")
    zw = margin_z(control, treatment, design.margin, "worse")
    lift = treatment.rate / control.rate - 1 if control.n and control.rate > 0 else float("nan")
    if k == 0:
        need = design.n_per_look - min(control.n, treatment.n)
        return Decision("continue", 0, zb, zw, None, lift, control, treatment,
                        f"first look after {design.n_per_look} per arm ({need} more)")
    c = design.boundaries[k - 1]
    if zb > c:
        return Decision("promote", k, zb, zw, c, lift, control, treatment,
                        f"treatment better by more than {design.margin:.0%} (z {zb:.2f} > {c:.2f} at look {k})")
    if zw > c:
        return Decision("rollback", k, zb, zw, c, lift, control, treatment,
                        f"treatment worse by more than {design.margin:.0%} (z {zw:.2f} > {c:.2f} at look {k})")
    if k >= design.looks:
        return Decision("stop", k, zb, zw, c, lift, control, treatment,
                        f"no difference beyond {design.margin:.0%} at the planned maximum: keep production")
    return Decision("continue", k, zb, zw, c, lift, control, treatment, f"look {k} of {design.looks}: no boundary crossed")


@dataclass
class SimulationResult:
    """Share of simulated experiments ending in each action, and the mean trials per arm they used."""

    p_control: float
    p_treatment: float
    repeats: int
    rates: dict[str, float] = field(default_factory=dict)
    mean_n: float = 0.0


def simulate(p_control: float, p_treatment: float, design: SequentialDesign, repeats: int = 1000,
             seed: int = 0, naive: bool = False) -> SimulationResult:
    """Run ``repeats`` Bernoulli experiments look by look through :func:`decide`.

    ``naive=True`` replaces the boundaries with the fixed-horizon critical value at every look (what peeking at a
    plain z-test does), to show the error inflation the design prevents.
    """
    rng = np.random.default_rng(seed)
    per_look = design.max_n // design.looks
    # looks fall exactly on per_look multiples; the naive variant uses the fixed-horizon value at every look
    d = replace(design, max_n=per_look * design.looks)
    if naive:
        d = replace(d, boundaries=(_norm_ppf(1 - design.alpha / 2),) * design.looks)
    counts = {"promote": 0, "rollback": 0, "stop": 0, "continue": 0}
    used = 0
    for _ in range(repeats):
        sa = sb = 0
        dec = None
        for k in range(1, design.looks + 1):
            sa += int(rng.binomial(per_look, p_control))
            sb += int(rng.binomial(per_look, p_treatment))
            n = per_look * k
            dec = decide(ArmStats(n, sa), ArmStats(n, sb), d)
            if dec.action != "continue":
                used += n
                break
        counts[dec.action] += 1
    return SimulationResult(p_control, p_treatment, repeats, {k: v / repeats for k, v in counts.items()},
                            used / repeats)


# ---------------------------------------------------------------------------------------------- events -> metrics
def arm_metrics(events: Iterable[Mapping[str, Any]], experiment: str) -> dict[str, dict[str, Any]]:
    """Per variant: like rate on shown recommendations (``ArmStats`` with the per-user clustered variance),
    mean rating, users, 7-day retention.

    Events follow ``taste2vec.feedback-event/1``: ``user_id``, ``experiment``, ``variant``, ``type`` (one of
    ``EVENT_TYPES``), optional ``item_id``, ``value`` (a rating), ``time`` (epoch seconds).
    """
    per: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("experiment") != experiment:
            continue
        t = e.get("type")
        if t not in EVENT_TYPES:
            raise ValueError(f"event type {t!r} (allowed: {', '.join(EVENT_TYPES)})")
        v = per.setdefault(e["variant"], {"shown": {}, "likes": {}, "ratings": [], "days": {}})
        u = e["user_id"]
        if t == "shown":
            v["shown"][u] = v["shown"].get(u, 0) + 1
        elif t == "like":
            v["likes"][u] = v["likes"].get(u, 0) + 1
        elif t == "rating":
            v["ratings"].append(float(e["value"]))
        v["days"].setdefault(e["user_id"], set()).add(int(float(e.get("time", 0)) // 86400))
    out = {}
    for name, v in per.items():
        users = v["days"]
        retained = sum(1 for d in users.values() if max(d) - min(d) >= 7)
        shown_users = sorted(v["shown"])
        trials = np.array([v["shown"][u] for u in shown_users])
        likes = np.array([min(v["likes"].get(u, 0), v["shown"][u]) for u in shown_users])
        out[name] = {"like_rate": clustered(trials, likes),
                     "mean_rating": float(np.mean(v["ratings"])) if v["ratings"] else None,
                     "ratings": len(v["ratings"]), "users": len(users),
                     "retention_7d": ArmStats(len(users), retained)}
    return out
