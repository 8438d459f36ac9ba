"""Layout of a run's analysed time series (the per-run CSV that ``holstein.stages.analyse`` writes).

One row per recorded frame.  Besides the scalar columns (time, order_parameter,
wall_position, current, ...), the column profile of the staggered order phi(x)/phi_0 is
stored as one column per lattice column x, named ``phi_0 .. phi_{Lx-1}``: the
kymograph of the run.  The writer (analysis) and the readers (figures, reports) share
this module, so the naming lives in one place and a reader needs no analysis code.
"""

from __future__ import annotations

import re

import numpy as np

PROFILE_PREFIX = "phi_"
_PROFILE_COLUMN = re.compile(rf"^{PROFILE_PREFIX}(\d+)$")


def profile_columns(lx: int) -> list[str]:
    """Column names of the profile phi(x)/phi_0 for a lattice of ``lx`` columns."""
    return [f"{PROFILE_PREFIX}{x}" for x in range(lx)]


def profile(frame) -> np.ndarray:
    """The column profile phi(x)/phi_0 of an analysed time series, shape (n_frames, Lx).

    Columns are ordered by x whatever their order in ``frame`` (a pandas DataFrame); a
    table whose profile columns are not exactly ``phi_0 .. phi_{Lx-1}`` is refused.
    """
    xs = sorted(int(m.group(1)) for c in frame.columns if (m := _PROFILE_COLUMN.match(str(c))))
    if not xs or xs != list(range(len(xs))):
        raise ValueError(f"the time series has profile columns for x = {xs}; expected "
                         f"{PROFILE_PREFIX}0 .. {PROFILE_PREFIX}<Lx-1> (holstein.stages.analyse)")
    return frame[profile_columns(len(xs))].to_numpy(dtype=float)
