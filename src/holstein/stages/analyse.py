"""Per-run analysis: order parameter, domain-wall position and device current against time.

``analyse_run`` reads one Parquet trajectory and writes a CSV time series (time,
order_parameter, wall_position, current, series_current, kirchhoff_spread, a committee's
force_deviation_max and force_deviation_mean (NaN without a committee), and the
column profile phi(x)/phi_0 as columns ``phi_0 .. phi_{Lx-1}`` for kymographs: the
layout of ``holstein.data.series``) plus a JSON summary (wall velocity fit, half-decay time,
the current before and after the resistance switch and the switching time, and the mean
Kirchhoff spread of the bond currents).

The current is the provider's device current: NEGF's exact one, or the ML bond heads'
mean over cross-sections.  ``series_current`` is the same bond currents read as
cross-sections in series (``observables.series_current``; equal to ``current`` for exact
bond currents, NaN without them); its late value and switching time are summarised as
``series_late_current`` and ``series_switching_time``.  ``kirchhoff_spread`` (max minus
min over cross-sections of the summed x-bond currents) is zero for exact bond currents;
for learned ones it says how far the prediction is from conserving charge.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from holstein.data.atomic import atomic_path, write_text_atomic
from holstein.data.io import read_trajectory
from holstein.data.records import DEVIATION_SUMMARIES
from holstein.data.series import profile_columns
from holstein.physics.observables import (
    cdw_bulk,
    column_profile,
    device_current,
    domain_wall_position,
    domain_wall_velocity,
    half_decay_time,
    kirchhoff_spread,
    order_parameter,
    series_current,
    switching_time,
)

# The current after the switch is the mean over this last fraction of the frames.  The
# current before it is the mean over the frames up to this fraction of the switching time
# (the insulating CDW state; the first LATE_FRACTION of the frames if it never switches).
LATE_FRACTION = 0.2
EARLY_FRACTION_OF_SWITCH = 0.25
# A run has switched when its late current differs from the mean of the first
# NOISE_FRACTION of the frames (at least 2) by more than SWITCH_SIGNIFICANCE times their
# standard deviation: an insulating run (NEGF ~1e-7, learned ~1e-3 +- 3e-4) has not.
NOISE_FRACTION = 0.05
SWITCH_SIGNIFICANCE = 10.0


def current_switch(times: np.ndarray, current: np.ndarray) -> dict:
    """The resistance switch of one run: ``late_current``, the reference ``start_current``
    (mean of the first frames), ``switched`` and ``switching_time`` (nan if not switched)."""
    times, current = np.asarray(times, dtype=float), np.asarray(current, dtype=float)
    n = len(current)
    late = float(np.mean(current[-max(1, int(round(LATE_FRACTION * n))):]))
    first = current[: max(2, int(round(NOISE_FRACTION * n)))]
    start, noise = float(np.mean(first)), float(np.std(first))
    switched = bool(abs(late - start) > SWITCH_SIGNIFICANCE * noise)
    return {
        "late_current": late,
        "start_current": start,
        "switched": switched,
        "switching_time": switching_time(times, current, late, start) if switched
        else float("nan"),
    }


def run_time_series(arrays: dict, meta: dict) -> pd.DataFrame:
    # Normalised by the run's own start (frame 0), checkerboard or relaxed alike: the order
    # parameter starts at 1 and the wall threshold is half the start's bulk amplitude.
    q0 = np.asarray(arrays["q"][0], dtype=float)
    bulk = cdw_bulk(q0)
    profile = column_profile(arrays["q"])
    if "current" in arrays:
        current = arrays["current"]
    elif "bond_current_x" in arrays:
        current = device_current(arrays["bond_current_x"])
    else:
        current = np.full(len(arrays["time"]), np.nan)
    if "bond_current_x" in arrays and meta["Lx"] > 1:
        spread = kirchhoff_spread(arrays["bond_current_x"])
        series = series_current(arrays["bond_current_x"])
    else:
        spread = series = np.full(len(arrays["time"]), np.nan)
    absent = np.full(len(arrays["time"]), np.nan)
    frame = pd.DataFrame(
        {
            "time": arrays["time"],
            "order_parameter": order_parameter(arrays["q"], q0),
            "wall_position": domain_wall_position(profile, bulk),
            "current": current,
            "series_current": series,
            "kirchhoff_spread": spread,
            **{name: arrays.get(name, absent) for name in DEVIATION_SUMMARIES},
        }
    )
    phi = pd.DataFrame(profile / bulk, columns=profile_columns(meta["Lx"]))
    return pd.concat([frame, phi], axis=1)


def summarise(series: pd.DataFrame, meta: dict) -> dict:
    fit = domain_wall_velocity(series["time"].to_numpy(), series["wall_position"].to_numpy(),
                               meta["Lx"])
    times = series["time"].to_numpy()
    current = series["current"].to_numpy()
    switch = current_switch(times, current)
    switched_at = switch["switching_time"]
    # The series read-out of the same bond currents (all NaN, hence NaN, without them).
    in_series = current_switch(times, series["series_current"].to_numpy())
    if math.isfinite(switched_at):
        early = times <= times[0] + EARLY_FRACTION_OF_SWITCH * (switched_at - times[0])
    else:
        early = np.arange(len(times)) < max(1, int(round(LATE_FRACTION * len(times))))
    early[0] = True
    return {
        "provider": meta.get("provider", "unknown"),
        "bias": meta["bias"],
        "seed": meta["seed"],
        "Lx": meta["Lx"],
        "Ly": meta["Ly"],
        "wall_velocity": fit.velocity,
        "wall_velocity_stderr": fit.stderr,
        "wall_fit_points": fit.n_points,
        "wall_fit_window": [fit.t_start, fit.t_end],
        "wall_reached_far_electrode": bool(series["wall_position"].iloc[-1] >= meta["Lx"] - 1),
        "half_decay_time": half_decay_time(series["time"].to_numpy(),
                                           series["order_parameter"].to_numpy()),
        "final_order_parameter": float(series["order_parameter"].iloc[-1]),
        "initial_current": float(np.mean(current[early])),
        "late_current": switch["late_current"],
        "switched": switch["switched"],
        "switching_time": switched_at,
        "series_late_current": in_series["late_current"],
        "series_switching_time": in_series["switching_time"],
        "mean_kirchhoff_spread": float(series["kirchhoff_spread"].mean()),
        # a committee's force deviation: its largest frame maximum, and the mean over the
        # frames of the frame mean (NaN for a run without a committee)
        "max_force_deviation": float(series["force_deviation_max"].max()),
        "mean_force_deviation": float(series["force_deviation_mean"].mean()),
    }


def analyse_run(trajectory_path, series_path, summary_path) -> dict:
    arrays, meta = read_trajectory(trajectory_path)
    series = run_time_series(arrays, meta)
    with atomic_path(series_path) as tmp:
        series.to_csv(tmp, index=False, float_format="%.8g")
    summary = summarise(series, meta)
    write_text_atomic(summary_path, json.dumps(summary, indent=2))
    return summary
