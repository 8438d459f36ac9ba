"""Observables of the voltage-driven CDW melting: order parameter, domain wall, device current.

Conventions (see docs/physics.md, "Observables"): a lattice configuration ``q`` is a float
``(Lx, Ly)`` array with x = 0 the left (gated) electrode and y periodic; a trajectory is an
``(n_frames, Lx, Ly)`` array with a matching 1-d array of times.  Functions on configurations
accept any number of leading frame axes.

- staggered CDW order ``phi_i = (-1)^(x+y) Q_i`` and its column profile ``phi(x)`` (mean over y);
- global order parameter: mean of ``phi_i`` normalised by that of a reference configuration
  (normally the initial one), and the time at which it has decayed to one half;
- metal/CDW domain wall: where ``|phi(x)|`` first reaches half of its bulk CDW value, counted
  from the gated electrode, and its velocity while it propagates through the sample;
- device current from the NEGF (or predicted) bond currents along x: the mean of the
  cross-section sums, and their series (harmonic-mean) combination for learned ones, plus
  the spread of the cross-section sums, which Kirchhoff's law makes zero for an exact
  steady state;
- resistance-switch time: when the device current first reaches half of its final value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from holstein.physics.lattice import Lattice

# A reference whose mean staggered order is below this fraction of its largest |Q| has no CDW
# order to normalise by (a rounding-level mean is zero order, not a tiny one).
_ZERO_ORDER_RTOL = 1e-12


def _as_configurations(q: np.ndarray, name: str = "q") -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.ndim < 2:
        raise ValueError(f"{name} must have shape (..., Lx, Ly), got {q.shape}")
    return q


def staggered_order(q: np.ndarray) -> np.ndarray:
    """Staggered CDW order ``phi = (-1)^(x+y) Q`` on every site; same shape as ``q``.

    ``q`` has shape ``(Lx, Ly)`` or ``(..., Lx, Ly)`` (leading frame axes).
    """
    q = _as_configurations(q)
    return Lattice(*q.shape[-2:]).staggered_sign() * q


def column_profile(q: np.ndarray) -> np.ndarray:
    """Column profile ``phi(x)``: the staggered order averaged over y; shape ``(..., Lx)``."""
    return staggered_order(q).mean(axis=-1)


def cdw_bulk(q0: np.ndarray) -> float:
    """The bulk CDW amplitude of a run's start ``q0``: the largest |phi(x)| over its
    columns.  The one normalisation of the wall threshold and the kymographs: 2.68 for the
    checkerboard, 2.39 in the bulk of the relaxed start (whose electrode columns sit at
    1.44, so half the checkerboard value, 1.34, would put them at the threshold)."""
    bulk = float(np.abs(column_profile(np.asarray(q0, dtype=float))).max())
    if not (np.isfinite(bulk) and bulk > 0):
        raise ValueError(f"the start has no CDW order (largest |phi(x)| = {bulk}): nothing "
                         "to normalise the wall threshold by")
    return bulk


def order_parameter(q: np.ndarray, reference: np.ndarray) -> float | np.ndarray:
    """Global CDW order of ``q`` relative to ``reference``: mean(phi(q)) / mean(phi(reference)).

    ``reference`` is one ``(Lx, Ly)`` configuration, normally the initial one, so that the
    result starts at 1 and its time dependence is the order-parameter decay.  Returns a float
    for a single configuration and an array over the leading frame axes otherwise.  The sign is
    kept: a configuration in the opposite CDW domain gives a negative value.
    """
    q = _as_configurations(q)
    reference = np.asarray(reference, dtype=float)
    if reference.shape != q.shape[-2:]:
        raise ValueError(
            f"reference must be one configuration of shape {q.shape[-2:]}, got {reference.shape}"
        )
    reference_order = staggered_order(reference).mean()
    scale = np.abs(reference).max()
    if not np.isfinite(reference_order) or abs(reference_order) <= _ZERO_ORDER_RTOL * scale:
        raise ValueError(
            f"reference configuration has zero staggered order (mean phi = {reference_order}): "
            "nothing to normalise by"
        )
    order = staggered_order(q).mean(axis=(-2, -1)) / reference_order
    return float(order) if order.ndim == 0 else order


def domain_wall_position(profile: np.ndarray, bulk_value: float) -> float | np.ndarray:
    """Position x of the metal/CDW wall: where |phi(x)| first reaches ``bulk_value / 2``.

    Scans from the gated electrode x = 0 and interpolates linearly between the last column
    below half of ``bulk_value`` and the first column at or above it.  The absolute value makes
    both CDW domains (phi > 0 and phi < 0) count as insulating.  Edge cases: if column 0 is
    already insulating the wall sits at 0.0; if no column reaches half (fully molten) the wall
    is put at the far electrode, ``Lx - 1``, i.e. it has crossed the sample.

    ``profile`` has shape ``(Lx,)`` or ``(..., Lx)`` (e.g. a kymograph); returns a float or an
    array over the leading axes.  ``bulk_value`` is the (positive) amplitude of the CDW bulk,
    e.g. the checkerboard amplitude or the initial ``|phi|``.
    """
    profile = np.asarray(profile, dtype=float)
    if profile.ndim < 1 or profile.shape[-1] < 1:
        raise ValueError(f"profile must have shape (..., Lx) with Lx >= 1, got {profile.shape}")
    if not (np.ndim(bulk_value) == 0 and np.isfinite(bulk_value) and bulk_value > 0):
        raise ValueError(f"bulk_value={bulk_value}: need a finite scalar > 0")
    half = 0.5 * float(bulk_value)
    magnitude = np.abs(profile)
    insulating = magnitude >= half
    first = np.argmax(insulating, axis=-1)  # index of the first insulating column (0 if none)
    has_wall = insulating.any(axis=-1)

    # Interpolate between columns first - 1 (below half) and first (at or above half); where
    # first == 0 the clipped index gives a dummy value that the np.where below discards.
    below = np.maximum(first - 1, 0)
    m_below = np.take_along_axis(magnitude, below[..., None], axis=-1)[..., 0]
    m_above = np.take_along_axis(magnitude, first[..., None], axis=-1)[..., 0]
    rise = np.where(first > 0, m_above - m_below, 1.0)  # > 0 wherever it is used
    interpolated = below + (half - m_below) / rise
    position = np.where(first > 0, interpolated, 0.0)
    position = np.where(has_wall, position, float(profile.shape[-1] - 1))
    return float(position) if position.ndim == 0 else position


@dataclass(frozen=True)
class WallFit:
    """Straight-line fit ``position = velocity * t + intercept`` of the propagating wall.

    velocity: 0.0 if the wall never left the gated electrode (CDW survives), nan if it could not
    be resolved (fewer than 3 frames in the propagation window although it moved: abrupt
    collapse).  stderr: standard error of the velocity from the fit residuals (nan without a
    fit).  n_points: frames in the propagation window.  t_start, t_end: first and last time in
    that window (nan if it is empty).
    """

    velocity: float
    intercept: float
    stderr: float
    n_points: int
    t_start: float
    t_end: float


def domain_wall_velocity(
    times: np.ndarray,
    positions: np.ndarray,
    Lx: int,
    margin: float = 1.0,
    fraction: float = 0.8,
    min_travel: float = 2.0,
) -> WallFit:
    """Velocity of the domain wall: least-squares slope of position against time.

    Only the propagation window is fitted: from the first frame at which the wall has left
    the gated electrode (``position > margin``) to the first frame at which it has covered
    ``fraction`` of the farthest distance it reaches.  Cutting at a fraction of the reach,
    not at the far electrode, keeps the frames where the wall stalls in front of the CDW
    remnant that the ungated electrode stabilises out of the fit (they would bias the slope
    low).  A wall that never gets ``min_travel`` beyond the margin did not propagate:
    velocity 0.0 (the CDW survives).  With fewer than 3 frames in the window the wall
    crossed faster than the frame spacing resolves: velocity nan (abrupt collapse).
    """
    times = np.asarray(times, dtype=float)
    positions = np.asarray(positions, dtype=float)
    if times.ndim != 1 or times.shape != positions.shape:
        raise ValueError(
            f"times and positions must be 1-d of equal length, got {times.shape}, {positions.shape}"
        )
    if not margin >= 0:
        raise ValueError(f"margin={margin}: must be >= 0")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: must be in (0, 1]")
    if not Lx - 1 > margin + min_travel:
        raise ValueError(f"Lx={Lx}, margin={margin}: no room for a propagation window")

    nan = float("nan")
    reach = float(positions.max()) if positions.size else 0.0
    if reach <= margin + min_travel:
        return WallFit(0.0, nan, nan, 0, nan, nan)
    end_position = margin + fraction * (reach - margin)
    start = int(np.argmax(positions > margin))
    end = start + int(np.argmax(positions[start:] >= end_position))
    t_window, x_window = times[start : end + 1], positions[start : end + 1]
    n_points = len(t_window)
    t_start, t_end = float(t_window[0]), float(t_window[-1])
    if n_points < 3:
        return WallFit(nan, nan, nan, n_points, t_start, t_end)

    t_mean = t_window.mean()
    dt = t_window - t_mean
    sxx = float(dt @ dt)
    if sxx == 0.0:
        raise ValueError("all frames in the propagation window share one time: no slope")
    velocity = float(dt @ (x_window - x_window.mean())) / sxx
    intercept = float(x_window.mean() - velocity * t_mean)
    residuals = x_window - (velocity * t_window + intercept)
    # Two fitted parameters leave n - 2 degrees of freedom for the residual variance.
    stderr = float(np.sqrt((residuals @ residuals) / (n_points - 2) / sxx))
    return WallFit(velocity, intercept, stderr, n_points, t_start, t_end)


def _first_time_at_or_below(times: np.ndarray, values: np.ndarray, level: float,
                            names: tuple[str, str]) -> float:
    """First time at which ``values`` <= ``level``, interpolated linearly; nan if never."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if times.ndim != 1 or times.shape != values.shape or times.size == 0:
        raise ValueError(
            f"{names[0]} and {names[1]} must be 1-d, non-empty, of equal length, got "
            f"{times.shape}, {values.shape}"
        )
    reached = np.flatnonzero(values <= level)
    if reached.size == 0:
        return float("nan")
    k = int(reached[0])
    if k == 0:
        return float(times[0])
    # values[k - 1] > level >= values[k], so the denominator is positive.
    fraction = (values[k - 1] - level) / (values[k - 1] - values[k])
    return float(times[k - 1] + fraction * (times[k] - times[k - 1]))


def half_decay_time(times: np.ndarray, order: np.ndarray) -> float:
    """First time at which the normalised order parameter is 0.5 or below; nan if never.

    ``order`` is the normalised order parameter (``order_parameter`` relative to the initial
    configuration, so it starts at 1); it is not renormalised here.  Between the last frame
    above 0.5 and the first at or below it the crossing is interpolated linearly.
    """
    return _first_time_at_or_below(times, order, 0.5, ("times", "order"))


def switching_time(times: np.ndarray, current: np.ndarray, final_current: float,
                   initial_current: float = 0.0) -> float:
    """Resistance-switch time: first time the current is half-way from its initial value
    to its final one, i.e. ``(I - I0) / (I_final - I0)`` reaches 1/2.

    ``final_current`` is the current of the switched (metallic) state, e.g. the late-time
    mean; ``initial_current`` (default 0) that of the insulator.  The crossing is
    interpolated linearly between frames; nan if it is never reached, or if the two
    currents are equal or not finite (no switch to time).  Whether a run switched at all
    is the caller's judgement (``analysis.current_switch`` compares the change with the
    early noise).
    """
    change = float(final_current) - float(initial_current)
    if not math.isfinite(change) or change == 0:
        return float("nan")
    ratio = (np.asarray(current, dtype=float) - float(initial_current)) / change
    # "reaches 1/2 from below" is "-ratio falls to -1/2": one crossing routine for both.
    return _first_time_at_or_below(times, -ratio, -0.5, ("times", "current"))


def _cross_section_currents(bond_current_x: np.ndarray) -> np.ndarray:
    """Current through every cross-section between columns x and x + 1; shape (..., Lx - 1)."""
    bond_current_x = np.asarray(bond_current_x, dtype=float)
    if bond_current_x.ndim < 2 or bond_current_x.shape[-2] < 1:
        raise ValueError(
            f"bond_current_x must have shape (..., Lx - 1, Ly) with Lx >= 2, "
            f"got {bond_current_x.shape}"
        )
    return bond_current_x.sum(axis=-1)


def device_current(bond_current_x: np.ndarray) -> float | np.ndarray:
    """Current through the device: the cross-section sums of the x bond currents, averaged.

    ``bond_current_x`` has shape ``(..., Lx - 1, Ly)``, bond (x, y) -> (x + 1, y), positive
    towards +x (as in ``negf.SteadyState``).  In an exact steady state every cross-section
    carries the same current; averaging over x makes approximate (e.g. learned) bond currents
    give a single best estimate.
    """
    current = _cross_section_currents(bond_current_x).mean(axis=-1)
    return float(current) if current.ndim == 0 else current


# A cross-section whose learned current is zero or flows backwards blocks the device: its
# current is raised to this before its resistance 1/I is taken, so that the series
# combination is ~0 (about BLOCKED_SECTION_CURRENT * (Lx - 1)) instead of undefined.
BLOCKED_SECTION_CURRENT = 1e-12


def series_current(bond_current_x: np.ndarray) -> float | np.ndarray:
    """Device current read as cross-sections in series: the harmonic mean of their currents.

    A local model predicts, at each cross-section x, roughly the current I_x that a device
    made all of that cross-section's kind would carry: a metallic stretch upstream of the
    CDW predicts a large current that it does not carry.  Adding the cross-sections'
    resistances 1/I_x in series gives ``1 / mean_x(1 / I_x)``: the narrowest cross-section
    (the CDW bottleneck) sets the current, as Kirchhoff's law demands.  For exact bond
    currents (every I_x equal and > 0) it equals ``device_current``; otherwise it is
    below it (harmonic <= arithmetic mean), also when the I_x scatter only by noise
    (by about var(I_x) / mean(I_x)^2).  Sections with I_x <= 0 block (``BLOCKED_SECTION_CURRENT``).
    """
    sections = np.maximum(_cross_section_currents(bond_current_x), BLOCKED_SECTION_CURRENT)
    current = 1.0 / np.mean(1.0 / sections, axis=-1)
    return float(current) if current.ndim == 0 else current


def kirchhoff_spread(bond_current_x: np.ndarray) -> float | np.ndarray:
    """Max minus min over x of the cross-section currents: zero when Kirchhoff's law holds.

    A quality indicator for bond currents that are not exact NEGF ones (learned, or from an
    inaccurate energy integral); compare it with ``abs(device_current(...))``.
    """
    sections = _cross_section_currents(bond_current_x)
    spread = sections.max(axis=-1) - sections.min(axis=-1)
    return float(spread) if spread.ndim == 0 else spread
