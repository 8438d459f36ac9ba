"""The committee deviation as an expected force error, calibrated on NEGF reference frames.

A frame's expected force RMSE is ``scale x s``, s its trust statistic (the mean or the
maximum over the sites of the committee's force deviation,
``holstein.ml.active_learning.TRUST_STATISTICS``).  ``scale`` is the geometric median of
RMSE / s over the fitting frames: the quality measure, the share of frames whose true RMSE
lies within a factor 2 of the expected error, is symmetric in log(RMSE / expected), and
the median in log is the centre that a few outlying frames do not move.

On the lattice the scale is fitted on, the share is cross-fitted: the reference runs are
split into two halves by their index (even, odd) and each half is judged with the scale of
the other, so no frame judges a scale it helped to fit (``calibrate``).  On another
lattice the training lattice's scale is judged as it is (``judge``): the transfer of the
calibration itself.
"""

from __future__ import annotations

import numpy as np

FACTOR = 2.0


def fit_scale(error, deviation) -> float:
    """Geometric median of error / deviation over the frames."""
    error, deviation = np.asarray(error, dtype=float), np.asarray(deviation, dtype=float)
    if len(error) == 0 or np.any(deviation <= 0) or np.any(error <= 0):
        raise ValueError("a calibration needs frames with a positive deviation and error")
    return float(np.exp(np.median(np.log(error / deviation))))


def within_factor(error, expected, factor: float = FACTOR) -> float:
    """Share of frames whose error lies within ``factor`` of the expected one."""
    error, expected = np.asarray(error, dtype=float), np.asarray(expected, dtype=float)
    return float(np.mean((error <= factor * expected) & (error >= expected / factor)))


def _columns(frames: dict, statistic: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(frames["force_rmse"], dtype=float),
            np.asarray(frames[f"{statistic}_deviation"], dtype=float))


def calibrate(frames: dict, statistic: str) -> dict:
    """The scale fitted on every frame of ``frames`` (``committee_errors``' frame table:
    ``force_rmse``, ``{statistic}_deviation``, ``run``), and the cross-fitted share of
    frames within a factor 2 (NaN with one run)."""
    error, deviation = _columns(frames, statistic)
    run = np.asarray(frames["run"], dtype=int)
    half = run % 2 == 0
    inside = np.full(len(error), False)
    if half.any() and (~half).any():
        for judged in (half, ~half):
            scale = fit_scale(error[~judged], deviation[~judged])
            inside[judged] = (error[judged] <= FACTOR * scale * deviation[judged]) & (
                error[judged] >= scale * deviation[judged] / FACTOR)
        share = float(inside.mean())
    else:
        share = float("nan")
    return {"statistic": statistic, "scale": fit_scale(error, deviation),
            "within_factor_2": share, "n_frames": int(len(error)),
            "n_runs": int(len(np.unique(run))),
            "judged_on": "the other half of the reference runs (cross-fitted)"}


def judge(frames: dict, calibration: dict) -> dict:
    """A calibration fitted elsewhere (``calibrate``) judged on ``frames``."""
    error, deviation = _columns(frames, calibration["statistic"])
    scale = calibration["scale"]
    return {"statistic": calibration["statistic"], "scale": scale,
            "within_factor_2": within_factor(error, scale * deviation),
            "n_frames": int(len(error)), "n_runs": int(len(np.unique(frames["run"]))),
            "judged_on": "these frames, with the training lattice's scale",
            "median_error_over_expected": float(np.median(error / (scale * deviation)))}
