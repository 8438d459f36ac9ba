"""The committee's error beside the locality floor (holstein.stages.locality_metrics): the pooling
over trajectories (the per-trajectory rows are checked on the tiny pipeline run)."""

import math

import pytest

from holstein.stages.locality_metrics import group_summary


def test_group_summary_pools_mean_squares_weighted_by_frames_and_samples():
    rows = [
        {"floor": 1.0, "n_samples": 100, "model_rmse": 2.0, "n_late_frames": 10,
         "member_rmse": [2.0, 3.0]},
        {"floor": 3.0, "n_samples": 300, "model_rmse": 4.0, "n_late_frames": 30,
         "member_rmse": [4.0, 1.0]},
    ]
    summary = group_summary(rows)
    floor = math.sqrt((100 * 1 + 300 * 9) / 400)
    rmse = math.sqrt((10 * 4 + 30 * 16) / 40)
    assert summary["floor"] == pytest.approx(floor, rel=1e-12)
    assert summary["model_rmse"] == pytest.approx(rmse, rel=1e-12)
    assert summary["model_over_floor"] == pytest.approx(rmse / floor, rel=1e-12)
    assert summary["member_rmse"] == pytest.approx(
        [math.sqrt((10 * 4 + 30 * 16) / 40), math.sqrt((10 * 9 + 30 * 1) / 40)], rel=1e-12)
    assert summary["n_trajectories"] == 2
