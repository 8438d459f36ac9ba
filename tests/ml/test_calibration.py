"""The committee deviation as an expected force error (holstein.ml.calibration): closed
forms on synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest

from holstein.ml.calibration import calibrate, fit_scale, judge, within_factor


def frames(error, deviation, runs):
    return {"force_rmse": np.asarray(error, dtype=float),
            "mean_deviation": np.asarray(deviation, dtype=float),
            "max_deviation": 8 * np.asarray(deviation, dtype=float),
            "run": np.asarray(runs)}


def test_the_scale_is_the_geometric_median_of_error_over_deviation():
    deviation = np.array([1.0, 2.0, 4.0])
    assert fit_scale(deviation * [3.0, 5.0, 100.0], deviation) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="positive deviation"):
        fit_scale([1.0], [0.0])


def test_within_a_factor_two_counts_both_sides():
    assert within_factor([1.0, 2.0, 0.5, 2.01, 0.49], np.ones(5)) == pytest.approx(3 / 5)


def test_an_exact_proportionality_is_calibrated_everywhere_and_a_wrong_scale_nowhere():
    rng = np.random.default_rng(0)
    deviation = rng.uniform(0.001, 0.01, size=40)
    runs = np.repeat(np.arange(4), 10)
    exact = calibrate(frames(4.8 * deviation, deviation, runs), "mean")
    assert exact["scale"] == pytest.approx(4.8)
    assert exact["within_factor_2"] == 1.0 and exact["n_runs"] == 4
    # the maximum is 8 times the mean here: its scale is 8 times smaller
    assert calibrate(frames(4.8 * deviation, deviation, runs), "max")["scale"] == \
        pytest.approx(0.6)
    # judged on frames whose error is 5 times larger, the scale misses every frame
    far = judge(frames(24 * deviation, deviation, runs), exact)
    assert far["within_factor_2"] == 0.0
    assert far["median_error_over_expected"] == pytest.approx(5.0)


def test_the_share_on_the_fitting_lattice_is_cross_fitted():
    """Even runs: error = deviation, odd runs: error = 3 x deviation.  Fitted on all,
    the scale (the median ratio, between 1 and 3) is within a factor 2 of both halves;
    cross-fitted, each half is judged with the other's scale, a factor 3 off."""
    deviation = np.full(8, 0.01)
    runs = np.repeat(np.arange(4), 2)
    error = np.where(runs % 2 == 0, 1.0, 3.0) * deviation
    result = calibrate(frames(error, deviation, runs), "mean")
    assert within_factor(error, result["scale"] * deviation) == 1.0
    assert result["within_factor_2"] == 0.0
    # one run: nothing to cross-fit with
    assert np.isnan(calibrate(frames(error[:2], deviation[:2], runs[:2]), "mean")
                    ["within_factor_2"])
