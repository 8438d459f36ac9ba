"""Where and when the committee deviation of the large run exceeds the trust levels
(``holstein.stages.large_lattice.deviation_metrics`` and ``plot_deviation``).

A synthetic run: a wall at x = t on a 10 x 4 lattice, the deviation 0.01 everywhere
except a hot spot two columns ahead of the wall from t = 3 on (0.5 at t = 3, 0.1 later),
so every number has a closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from holstein.report import plotting as pl
from holstein.stages.large_lattice import (
    deviation_metrics,
    expected_force_error,
    plot_deviation,
)

TIMES = np.arange(8.0)
LX, LY = 10, 4
LO, HI = 0.05, 0.3


def synthetic_run():
    field = np.full((len(TIMES), LX, LY), 0.01)
    for k, t in enumerate(TIMES):
        if t >= 3:
            field[k, int(t) + 2, 1] = 0.5 if t == 3 else 0.1
    arrays = {"time": TIMES, "force_deviation": field,
              "force_deviation_max": field.reshape(len(TIMES), -1).max(axis=1),
              "force_deviation_mean": field.reshape(len(TIMES), -1).mean(axis=1)}
    wall = TIMES.copy()
    wall[0] = math.nan  # no wall yet
    return arrays, pd.DataFrame({"time": TIMES, "wall_position": wall})


def test_fractions_times_and_the_place_relative_to_the_wall():
    arrays, series = synthetic_run()
    m = deviation_metrics(arrays, series, "max", LO, HI)
    assert m["max_deviation"] == 0.5 and m["time_of_max_deviation"] == 3.0
    assert m["fraction_of_frames_above_trust_lo"] == pytest.approx(5 / 8)
    assert m["fraction_of_frames_above_trust_hi"] == pytest.approx(1 / 8)
    assert m["first_time_above_trust_lo"] == 3.0 and m["first_time_above_trust_hi"] == 3.0
    sites = m["fraction_of_sites_above_trust_lo"]
    assert sites["max"] == pytest.approx(1 / (LX * LY))
    assert sites["mean_over_frames"] == pytest.approx(5 / 8 / (LX * LY))
    offset = m["offset_from_wall"]
    assert offset["median"] == 2.0 and offset["n_frames"] == 5
    assert offset["quantile_10"] == offset["quantile_90"] == 2.0


def test_the_mean_statistic_counts_frames_by_their_mean_deviation():
    """Mean over the 40 sites: 0.01 before t = 3, (39 x 0.01 + 0.5) / 40 = 0.02225 at
    t = 3, (39 x 0.01 + 0.1) / 40 = 0.01225 later.  No site is 'above' a mean."""
    arrays, series = synthetic_run()
    m = deviation_metrics(arrays, series, "mean", 0.012, 0.02)
    assert m["trust_statistic"] == "mean"
    assert m["fraction_of_frames_above_trust_lo"] == pytest.approx(5 / 8)
    assert m["fraction_of_frames_above_trust_hi"] == pytest.approx(1 / 8)
    assert m["first_time_above_trust_hi"] == 3.0
    assert m["max_deviation"] == 0.5  # the largest site deviation, whatever the statistic
    assert "fraction_of_sites_above_trust_lo" not in m
    assert m["offset_from_wall"]["n_frames"] == 5
    # the same levels on the maximum put every frame above both
    assert deviation_metrics(arrays, series, "max", 0.012, 0.02)[
        "fraction_of_frames_above_trust_hi"] == pytest.approx(5 / 8)


def test_the_expected_force_error_is_the_calibrated_statistic_of_every_frame(tmp_path):
    arrays, series = synthetic_run()
    calibration = {"statistic": "mean", "scale": 4.0, "within_factor_2": 0.9}
    expected = expected_force_error(arrays, calibration)
    np.testing.assert_allclose(expected["per_frame"], 4.0 * arrays["force_deviation_mean"])
    assert expected["max"] == pytest.approx(4.0 * (39 * 0.01 + 0.5) / 40)
    assert expected["time_of_max"] == 3.0
    assert expected["median"] == pytest.approx(4.0 * (39 * 0.01 + 0.1) / 40)
    assert expected_force_error(arrays, None) is None
    assert expected_force_error({"time": TIMES}, calibration) is None
    m = deviation_metrics(arrays, series, "mean", 0.012, 0.02)
    path = tmp_path / "deviation.png"
    plot_deviation(arrays, series, {"Lx": LX, "Ly": LY, "bias": 2.2}, m, path, expected)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_never_above_and_no_committee():
    arrays, series = synthetic_run()
    m = deviation_metrics(arrays, series, "max", 1.0, 2.0)
    assert m["fraction_of_frames_above_trust_lo"] == 0.0
    assert math.isnan(m["first_time_above_trust_lo"]) and m["offset_from_wall"] is None
    assert deviation_metrics({"time": TIMES}, series, "max", LO, HI) is None


def test_the_figure_draws_the_kymograph_the_curves_and_two_maps(tmp_path, monkeypatch):
    arrays, series = synthetic_run()
    m = deviation_metrics(arrays, series, "max", LO, HI)
    figures = []
    original = pl.finish
    monkeypatch.setattr(pl, "finish", lambda fig, path, **kw: (figures.append(fig),
                                                                original(fig, path, **kw)))
    path = tmp_path / "deviation.png"
    plot_deviation(arrays, series, {"Lx": LX, "Ly": LY, "bias": 2.2}, m, path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    axes = [ax for ax in figures[0].axes if ax.images]
    assert len(axes) == 3  # kymograph and two maps
    kymograph = axes[0]
    np.testing.assert_allclose(kymograph.images[0].get_array(),
                               arrays["force_deviation"].max(axis=2).T)
    hot = axes[2]  # the map of the frame with the largest deviation: t = 3
    assert "t = 3" in hot.get_title()
    np.testing.assert_allclose(hot.images[0].get_array(), arrays["force_deviation"][3].T)
    curves = next(ax for ax in figures[0].axes if ax.get_yscale() == "log" and not ax.images)
    levels = sorted(line.get_ydata()[0] for line in curves.lines
                    if line.get_linestyle() == ":")
    assert levels == [LO, HI]
    # a run without a committee gets a figure that says so
    plot_deviation(arrays, series, {"Lx": LX, "Ly": LY, "bias": 2.2}, None, path)
    assert "single model" in figures[-1].axes[0].texts[0].get_text()
