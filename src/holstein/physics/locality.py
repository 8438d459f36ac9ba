"""How local is the electronic force?  A splice estimate of the error floor of a local model.

A model with cutoff R predicts the force at site i from Q on the sites within Chebyshev
radius R of i (open along x, periodic along y; the receptive field of holstein.ml.model).  No
such model can beat the spread of the exact force over the configurations that share
that neighbourhood: its best possible RMSE is sqrt(E[Var(F_i | Q inside)]).

Splice estimate: take two snapshots a and b of the same trajectory, far apart in time;
build Q' = Q_a inside the radius around a random site i and Q_b outside; then
``F_i(Q') - F_i(Q_a)`` differs only through the outside.  If the outside were independent
of the inside, ``E[(F_i(Q') - F_i(Q_a))^2] / 2 = E[Var(F_i | inside)]`` exactly (two
independent draws of the outside given the inside).  Real outsides correlate with the
inside (the domain pattern continues), and Q' has a seam at the radius, so this is an
estimate, not a bound; it is zero exactly when the force at i does not depend on Q
beyond R (tested with exactly local providers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def chebyshev_neighbourhood(shape: tuple[int, int], centre: tuple[int, int],
                            radius: int) -> np.ndarray:
    """Boolean (Lx, Ly) mask of the sites within Chebyshev ``radius`` of ``centre``.

    x is open (plain distance), y periodic (distance around the ring): the receptive
    field of a stack of ``radius`` 3x3 convolutions with circular y padding.
    """
    lx, ly = shape
    x0, y0 = centre
    dx = np.abs(np.arange(lx) - x0)
    dy = np.abs(np.arange(ly) - y0)
    dy = np.minimum(dy, ly - dy)
    return (dx[:, None] <= radius) & (dy[None, :] <= radius)


def splice_samples(n_frames: int, shape: tuple[int, int], n_samples: int,
                   rng: np.random.Generator, min_separation: int = 1) -> np.ndarray:
    """``n_samples`` splice draws as rows (a, b, x0, y0): frames a and b at least
    ``min_separation`` apart and the site (x0, y0), uniformly (see module doc)."""
    lx, ly = shape
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples}: need at least one sample")
    if min_separation < 1 or n_frames <= min_separation:
        raise ValueError(
            f"{n_frames} frames cannot give pairs {min_separation} frames apart: pass more "
            "frames or a smaller min_separation (>= 1)")
    out = np.empty((n_samples, 4), dtype=int)
    for k in range(n_samples):
        while True:
            a, b = rng.integers(n_frames, size=2)
            if abs(int(a) - int(b)) >= min_separation:
                break
        out[k] = a, b, int(rng.integers(lx)), int(rng.integers(ly))
    return out


def spliced(q: np.ndarray, sample, radius: int) -> np.ndarray:
    """Q of frame a inside Chebyshev ``radius`` of the sample's site, of frame b outside."""
    a, b, x0, y0 = (int(v) for v in sample)
    inside = chebyshev_neighbourhood(q.shape[1:], (x0, y0), radius)
    return np.where(inside, q[a], q[b])


def splice_differences(force_at, q: np.ndarray, radius: int, n_samples: int,
                       rng: np.random.Generator, min_separation: int = 1,
                       cache: dict[int, np.ndarray] | None = None,
                       samples: np.ndarray | None = None) -> np.ndarray:
    """``n_samples`` values of F_i(Q_a inside, Q_b outside) - F_i(Q_a) (see module doc).

    ``force_at(q)`` returns the (Lx, Ly) force of one configuration, or (Lx, Ly, K) for K
    forces at once (then the result is (n_samples, K)); ``q`` is (n, Lx, Ly), frames of
    one trajectory in time order; the draws come from ``splice_samples`` (or are given as
    ``samples``).  ``cache`` (frame index -> force) keeps the unspliced forces between
    calls on the same frames, so each is solved once.
    """
    q = np.asarray(q, dtype=np.float64)
    if samples is None:
        samples = splice_samples(len(q), q.shape[1:], n_samples, rng, min_separation)
    cache = {} if cache is None else cache
    out = []
    for sample in samples:
        a, _, x0, y0 = (int(v) for v in sample)
        if a not in cache:
            cache[a] = np.asarray(force_at(q[a]))
        out.append(np.asarray(force_at(spliced(q, sample, radius)))[x0, y0] - cache[a][x0, y0])
    return np.array(out, dtype=np.float64)


def floor_row(d: np.ndarray, radius: int, rng: np.random.Generator,
              n_bootstrap: int = 1000) -> dict:
    """sqrt(E[d^2] / 2) of splice differences ``d`` and its bootstrap standard error."""
    floor = float(np.sqrt(np.mean(d**2) / 2))
    boot = rng.integers(len(d), size=(n_bootstrap, len(d)))
    spread = np.sqrt(np.mean(d[boot] ** 2, axis=1) / 2)
    return {"radius": int(radius), "floor": floor, "floor_error": float(np.std(spread)),
            "n_samples": int(len(d))}


def locality_floor(force_at, q: np.ndarray, radii: Sequence[int], n_samples: int,
                   seed: int = 0, min_separation: int = 1, n_bootstrap: int = 1000,
                   forces: np.ndarray | None = None) -> list[dict]:
    """Splice estimate sqrt(E[d^2] / 2) of a local model's RMSE floor, per radius.

    ``forces``: the forces ``force_at`` gives on the frames ``q`` themselves, where they
    are known (an NEGF trajectory stores them), so that only the spliced configurations
    are solved; None solves those too.

    Returns one row per radius: ``floor`` (absolute, force units), ``floor_error``
    (bootstrap standard error over the samples) and ``n_samples``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    unspliced = {} if forces is None else dict(enumerate(np.asarray(forces)))
    for radius in radii:
        d = splice_differences(force_at, q, int(radius), n_samples, rng, min_separation,
                               cache=unspliced)
        rows.append(floor_row(d, int(radius), rng, n_bootstrap))
    return rows


def late_slice(n_frames: int, skip_fraction: float) -> slice:
    """The frames of a trajectory after its leading ``skip_fraction`` (the state after the
    wall has swept, or the collapsed metal): where the floor is estimated."""
    if not 0 <= skip_fraction < 1:
        raise ValueError(f"skip_fraction = {skip_fraction}: need 0 <= value < 1")
    return slice(int(skip_fraction * n_frames), None)
