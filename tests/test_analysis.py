"""Per-run analysis: the current before and after the resistance switch, switching time,
Kirchhoff spread, from synthetic trajectories whose answers are known in closed form."""

import math

import numpy as np
import pytest

from holstein.physics.lattice import checkerboard
from holstein.stages.analyse import run_time_series, summarise

PHYSICS = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0, "temperature": 0.1,
           "bias_scheme": "gated"}


def synthetic_run(current, lx=6, ly=4, bond_noise=0.0, seed=0):
    """A CDW trajectory whose x-bond currents sum to ``current`` in every cross-section
    (plus optional noise that breaks Kirchhoff's law)."""
    n = len(current)
    q0 = checkerboard(lx, ly, PHYSICS["g"], PHYSICS["K"], PHYSICS["kappa"])
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 1.5, size=(n, lx - 1, ly))
    bond_x = current[:, None, None] * weights / weights.sum(axis=2, keepdims=True)
    bond_x = bond_x + bond_noise * rng.standard_normal(bond_x.shape)
    arrays = {"time": np.arange(n, dtype=float), "q": np.broadcast_to(q0, (n, lx, ly)),
              "bond_current_x": bond_x}
    meta = {"Lx": lx, "Ly": ly, "physics": PHYSICS, "bias": 2.0, "seed": 1,
            "provider": "ml"}
    return arrays, meta


def test_switch_of_a_step_like_current():
    # 0.01 (insulating) for t < 20, a linear rise to 1.0 at t = 40, then flat to t = 99.
    t = np.arange(100, dtype=float)
    current = np.interp(t, [0, 20, 40, 99], [0.01, 0.01, 1.0, 1.0])
    arrays, meta = synthetic_run(current)
    series = run_time_series(arrays, meta)
    np.testing.assert_allclose(series["current"], current, rtol=1e-12)
    np.testing.assert_allclose(series["kirchhoff_spread"], 0.0, atol=1e-14)
    summary = summarise(series, meta)
    assert summary["late_current"] == pytest.approx(1.0, rel=1e-12)
    # Half-way from 0.01 to 1.0 (I = 0.505) at t = 30, exact for the linear rise.
    assert summary["switched"] is True
    assert summary["switching_time"] == pytest.approx(30.0, rel=1e-12)
    assert summary["initial_current"] == pytest.approx(0.01, rel=1e-12)
    assert summary["mean_kirchhoff_spread"] == pytest.approx(0.0, abs=1e-14)
    # Exact bond currents: the series read-out is the same current.
    np.testing.assert_allclose(series["series_current"], current, rtol=1e-12)
    assert summary["series_switching_time"] == pytest.approx(30.0, rel=1e-12)
    assert summary["series_late_current"] == pytest.approx(1.0, rel=1e-12)


def test_series_read_out_waits_for_the_bottleneck():
    # Learned-like bond currents of a metal front sweeping the sample: cross-section k
    # predicts the metal's current 1.0 from t = 10 (k + 1) on and 1e-6 (CDW) before.  The
    # mean over cross-sections is half-way at t = 29.5 (0.4 at t = 29, 0.6 at t = 30); in
    # series the last CDW section blocks until t = 50, so half-way at t = 49.5 (linear
    # interpolation between frames).
    lx, ly = 6, 4
    t = np.arange(100, dtype=float)
    sections = np.where(t[:, None] >= 10.0 * (np.arange(lx - 1) + 1), 1.0, 1e-6)
    arrays, meta = synthetic_run(np.ones(len(t)), lx=lx, ly=ly)
    arrays["bond_current_x"] = np.repeat(sections[:, :, None] / ly, ly, axis=2)
    summary = summarise(run_time_series(arrays, meta), meta)
    assert summary["switching_time"] == pytest.approx(29.5, rel=1e-9)
    assert summary["series_switching_time"] == pytest.approx(49.5, rel=1e-4)
    assert summary["late_current"] == summary["series_late_current"] == pytest.approx(1.0)


def test_kirchhoff_spread_is_positive_for_perturbed_bond_currents():
    current = np.full(30, 0.3)
    series = run_time_series(*synthetic_run(current, bond_noise=0.01))
    assert (series["kirchhoff_spread"] > 0.001).all()


def test_a_run_without_currents_has_nan_current_summaries():
    arrays, meta = synthetic_run(np.ones(10))
    del arrays["bond_current_x"]
    summary = summarise(run_time_series(arrays, meta), meta)
    for key in ("initial_current", "late_current", "switching_time", "mean_kirchhoff_spread",
                "series_late_current", "series_switching_time"):
        assert math.isnan(summary[key]), key
    assert summary["switched"] is False


@pytest.mark.parametrize("level, noise", [(1e-7, 2e-8), (-1e-3, 3e-4)])
def test_an_insulating_run_has_not_switched(level, noise):
    # NEGF-like (1e-7 +- 2e-8) and learned-like (-1e-3 +- 3e-4) currents of a CDW that
    # never melts: noise around a constant, no switch to time.
    current = level + noise * np.random.default_rng(5).standard_normal(100)
    arrays, meta = synthetic_run(current)
    summary = summarise(run_time_series(arrays, meta), meta)
    assert summary["switched"] is False and math.isnan(summary["switching_time"])
    assert summary["initial_current"] == pytest.approx(np.mean(current[:20]), rel=1e-9)


def test_switch_from_a_learned_insulating_offset():
    # -1e-3 (a learned insulator's offset) rising linearly to 0.5 between t = 20 and 40:
    # half-way from -1e-3 to 0.5 is at t = 30, exactly.
    t = np.arange(100, dtype=float)
    current = np.interp(t, [0, 20, 40, 99], [-1e-3, -1e-3, 0.5, 0.5])
    arrays, meta = synthetic_run(current)
    summary = summarise(run_time_series(arrays, meta), meta)
    assert summary["switched"] is True
    assert summary["switching_time"] == pytest.approx(30.0, rel=1e-12)


def test_a_committees_deviation_is_carried_and_summarised():
    t = np.arange(10, dtype=float)
    arrays, meta = synthetic_run(np.full(10, 0.5))
    series = run_time_series(arrays, meta)  # no committee: NaN, and NaN summaries
    assert series["force_deviation_max"].isna().all()
    assert math.isnan(summarise(series, meta)["max_force_deviation"])
    arrays["force_deviation_max"] = 0.01 * (1 + t)
    arrays["force_deviation_mean"] = np.full(10, 0.002)
    series = run_time_series(arrays, meta)
    np.testing.assert_array_equal(series["force_deviation_max"], 0.01 * (1 + t))
    summary = summarise(series, meta)
    assert summary["max_force_deviation"] == pytest.approx(0.1)
    assert summary["mean_force_deviation"] == pytest.approx(0.002)


def relaxed_like_start(lx=10, ly=4):
    """The relaxed start's shape: bulk |Q| 2.39, the electrode columns at 1.44."""
    sign = (-1.0) ** np.add.outer(np.arange(lx), np.arange(ly))
    amplitude = np.full(lx, 2.39)
    amplitude[[0, -1]] = 1.44
    return sign * amplitude[:, None]


@pytest.mark.parametrize("start", ["checkerboard", "relaxed"])
def test_order_and_wall_are_normalised_by_the_runs_own_start(start):
    """The order parameter starts at 1 and the wall threshold is half the start's bulk
    amplitude, for both starts; a wall that melts the first k columns to 0.3 phi_0 sits
    between column k - 1 and k (linear interpolation to the threshold)."""
    lx, ly = 10, 4
    q0 = (checkerboard(lx, ly, PHYSICS["g"], PHYSICS["K"], PHYSICS["kappa"])
          if start == "checkerboard" else relaxed_like_start(lx, ly))
    bulk = np.abs(q0).max()
    frames = [q0.copy()]
    for k in (2, 4):
        q = q0.copy()
        q[:k] = 0.3 * bulk * np.sign(q0[:k])
        frames.append(q)
    arrays = {"time": np.arange(3, dtype=float), "q": np.array(frames)}
    meta = {"Lx": lx, "Ly": ly, "physics": PHYSICS, "bias": 2.0, "seed": 1, "provider": "ml"}
    series = run_time_series(arrays, meta)
    assert series["order_parameter"].iloc[0] == pytest.approx(1.0, abs=1e-12)
    # t = 0: the electrode columns (1.44 in the relaxed start) are above half of 2.39
    assert series["wall_position"].iloc[0] == 0.0
    # column k - 1 at 0.3 phi_0, column k at the bulk (or 1.44 / 2.39 at the far end):
    # the threshold 0.5 phi_0 is crossed (0.5 - 0.3) / (1 - 0.3) of the way
    for row, k in ((1, 2), (2, 4)):
        assert series["wall_position"].iloc[row] == pytest.approx(k - 1 + 0.2 / 0.7)
    assert series["phi_5"].iloc[0] == pytest.approx(1.0)  # kymograph in units of phi_0
