"""ML against NEGF over seeds: the statistics of one quantity and the agreement criterion.

ML agrees with NEGF on a quantity when the seed means differ by at most
``RELATIVE_TOLERANCE`` of the NEGF mean, or by at most the NEGF seed spread (the
thermal noise makes finer agreement meaningless).
"""

from __future__ import annotations

import math

import numpy as np

RELATIVE_TOLERANCE = 0.05


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


def agreement(ml: dict, negf: dict, scale: float | None = None) -> dict:
    """ML vs NEGF for one quantity: relative difference and the pass criterion.

    The difference is relative to ``scale`` (default: the NEGF mean itself); a quantity
    that is zero in exact arithmetic (the current of the CDW insulator) is judged against
    the scale it is read on instead (the switched current).
    """
    if not (np.isfinite(ml["mean"]) and np.isfinite(negf["mean"])):
        return {"relative_difference": math.nan, "tolerance": math.nan, "agrees": None}
    diff = abs(ml["mean"] - negf["mean"])
    scale = abs(negf["mean"]) if scale is None else abs(scale)
    tolerance = max(RELATIVE_TOLERANCE * scale, negf["std"])
    return {
        "relative_difference": float(diff / scale) if scale > 0 else math.nan,
        "tolerance": float(tolerance),
        "agrees": bool(diff <= tolerance),
    }
