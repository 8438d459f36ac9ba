"""What a Brownian run records: the one registry of frame fields, and the Trajectory.

Every recorded field is named here once, with its shape on an Lx x Ly lattice: the
dynamics records them, ``holstein.data.io`` writes and reads them, the training set is
assembled from them.  ``q`` is always recorded; the others when the force provider
supplies them and the run keeps them (a large-lattice run keeps q and the current only,
since every lattice field costs 8 bytes per site per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# field -> shape of one frame on an (Lx, Ly) lattice; () is a number per frame
FIELD_SHAPES = {
    "q": lambda lx, ly: (lx, ly),  # lattice coordinates
    "force": lambda lx, ly: (lx, ly),  # electronic force -g (n - 1/2)
    "density": lambda lx, ly: (lx, ly),  # occupation n
    "bond_current_x": lambda lx, ly: (lx - 1, ly),  # (x, y) -> (x + 1, y)
    "bond_current_y": lambda lx, ly: (lx, ly),  # (x, y) -> (x, y + 1 mod Ly)
    "current": lambda lx, ly: (),  # device current, left electrode into the sample
    # A committee of force fields (holstein.ml.committee): the standard deviation over its
    # members of the force on each site, and its maximum and mean over the sites
    "force_deviation": lambda lx, ly: (lx, ly),
    "force_deviation_max": lambda lx, ly: (),
    "force_deviation_mean": lambda lx, ly: (),
}
FRAME_FIELDS = tuple(FIELD_SHAPES)
OPTIONAL_FIELDS = FRAME_FIELDS[1:]  # q is always recorded
LATTICE_FIELDS = tuple(k for k in FRAME_FIELDS if FIELD_SHAPES[k](2, 3) != ())
SCALAR_FIELDS = tuple(k for k in FRAME_FIELDS if k not in LATTICE_FIELDS)
# The committee deviation: its per-frame summaries, and those with the per-site field.
DEVIATION_SUMMARIES = ("force_deviation_max", "force_deviation_mean")
DEVIATION_FIELDS = ("force_deviation", *DEVIATION_SUMMARIES)
# A committee run's trust statistic -> the recorded per-frame summary it reads.
TRUST_STATISTICS = {"mean": "force_deviation_mean", "max": "force_deviation_max"}


def field_shape(name: str, lx: int, ly: int) -> tuple[int, ...]:
    return FIELD_SHAPES[name](lx, ly)


@dataclass
class Trajectory:
    """Snapshots recorded every ``stride`` steps (frame k is step ``steps[k]``).

    One attribute per entry of ``FRAME_FIELDS``; fields that the provider does not
    supply (e.g. density of a force-only model, the force deviation of anything but a
    committee), or that the run was told not to record, are None.  ``force`` is the
    electronic force (what a force field learns; for a committee, its predictor's).
    """

    steps: np.ndarray
    times: np.ndarray
    q: np.ndarray
    force: np.ndarray | None
    density: np.ndarray | None = None
    bond_current_x: np.ndarray | None = None
    bond_current_y: np.ndarray | None = None
    current: np.ndarray | None = None
    force_deviation: np.ndarray | None = None
    force_deviation_max: np.ndarray | None = None
    force_deviation_mean: np.ndarray | None = None
    seconds_per_step: float = float("nan")

    @property
    def n_frames(self) -> int:
        return len(self.steps)
