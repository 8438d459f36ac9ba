"""ML against NEGF over seeds: seed statistics, and the paired verdict on one quantity.

An ML run and the NEGF run with the same seed are driven by the same Brownian noise, so
the sharpest comparison is seed by seed: the paired difference d_s = (ML_s - NEGF_s) /
scale, with scale the NEGF seed mean (or, for a quantity that vanishes exactly, the
scale it is read on).  Over the n seeds that both providers ran,

    mean d, standard error se = sd(d) / sqrt(n),
    confidence interval  mean d +- t_{(1 + c)/2, n-1} se      (Student t, c = 90 %).

The verdict against a margin m (config ``validation.margin``) is that of two one-sided
tests at level (1 - c) / 2 each:

* ``equivalent``: the interval lies inside (-m, m);
* ``differs``: it lies wholly outside [-m, m];
* ``unresolved``: anything else, with the number of seeds that would resolve it at the
  observed mean and spread (``seeds_needed``).

The interval shrinks as 1/sqrt(n) with the seeds and does not widen with the thermal
spread of the runs themselves: the NEGF seed spread is reported, and decides nothing.
Why the t interval and not a bootstrap: with the 2-6 seeds a run affords, a bootstrap
over seeds has too few distinct resamples to set a 90 % interval, and it under-covers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.90
VERDICTS = ("equivalent", "differs", "unresolved")
# Seeds beyond this are not worth quoting: the mean lies (almost) on the margin.
MAX_SEEDS_NEEDED = 10_000


def seed_statistics(values) -> dict:
    """Mean, standard deviation (ddof 1; 0 for one value) and count of the finite values."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        "n": int(len(finite)),
    }


def half_width(sd: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the t interval of a mean of n values with standard deviation sd."""
    if n < 2:
        return math.inf
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))


def seeds_needed(mean: float, sd: float, margin: float,
                 confidence: float = CONFIDENCE) -> int | None:
    """The fewest seeds whose interval, at this mean and spread, clears the nearer edge of
    [-margin, margin] (None where it never would: the mean lies on the margin)."""
    distance = abs(abs(mean) - margin)
    if sd == 0:
        return 2 if distance > 0 else None
    for n in range(2, MAX_SEEDS_NEEDED + 1):
        if half_width(sd, n, confidence) < distance:
            return n
    return None


def verdict(low: float, high: float, margin: float) -> str:
    """``equivalent``, ``differs`` or ``unresolved`` for the interval [low, high]."""
    if -margin < low and high < margin:
        return "equivalent"
    if low > margin or high < -margin:
        return "differs"
    return "unresolved"


def paired_difference(ml: dict, negf: dict, margin: float, scale: float | None = None,
                      confidence: float = CONFIDENCE) -> dict:
    """The paired verdict on one quantity from ``{seed: value}`` of each provider.

    ``scale``: what the differences are relative to (default: the mean of the NEGF values
    over the paired seeds).  Seeds missing from either side, or with a non-finite value
    on either, are left out of the pairing (``n`` counts the pairs).  Returns the per-seed
    ``differences`` (relative), ``mean``, ``sd``, ``standard_error``, ``interval``,
    ``confidence``, ``margin``, ``verdict`` and ``seeds_needed`` (for an unresolved one).
    """
    seeds = sorted(s for s in set(ml) & set(negf)
                   if ml[s] is not None and negf[s] is not None
                   and np.isfinite(ml[s]) and np.isfinite(negf[s]))
    result = {"seeds": seeds, "n": len(seeds), "confidence": confidence, "margin": margin}
    if not seeds:
        return {**result, "differences": [], "mean": math.nan, "sd": math.nan,
                "standard_error": math.nan, "interval": [math.nan, math.nan],
                "scale": math.nan, "verdict": "unresolved", "seeds_needed": None}
    a = np.array([ml[s] for s in seeds], dtype=float)
    b = np.array([negf[s] for s in seeds], dtype=float)
    scale = abs(float(b.mean())) if scale is None else abs(float(scale))
    if not scale > 0:
        return {**result, "differences": [], "mean": math.nan, "sd": math.nan,
                "standard_error": math.nan, "interval": [math.nan, math.nan],
                "scale": scale, "verdict": "unresolved", "seeds_needed": None}
    d = (a - b) / scale
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if len(d) > 1 else math.nan
    width = half_width(sd, len(d), confidence) if len(d) > 1 else math.nan  # one pair
    low, high = mean - width, mean + width
    judged = verdict(low, high, margin)
    needed = None
    if judged == "unresolved" and len(d) > 1:
        needed = seeds_needed(mean, sd, margin, confidence)
    return {**result, "differences": [float(x) for x in d], "mean": mean, "sd": sd,
            "standard_error": float(sd / math.sqrt(len(d))) if len(d) > 1 else math.nan,
            "interval": [low, high], "scale": scale, "verdict": judged,
            "seeds_needed": needed}
