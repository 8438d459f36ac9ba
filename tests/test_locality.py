"""The splice estimate of a local model's error floor (holstein.physics.locality), on
providers whose locality is known exactly."""

import numpy as np
import pytest
from schema_defaults import DEFAULTS

from holstein.data.io import read_trajectory
from holstein.physics.forces import negf_provider
from holstein.physics.locality import (
    chebyshev_neighbourhood,
    late_slice,
    locality_floor,
    splice_differences,
)
from holstein.stages.locality_floor import trajectory_floor
from holstein.stages.simulate_negf import negf_run as run_negf

LX, LY = 9, 7


def windowed_sum(q, radius):
    """Sum of Q over the Chebyshev neighbourhood of every site (open x, periodic y)."""
    out = np.zeros_like(q)
    for x in range(LX):
        for y in range(LY):
            out[x, y] = q[chebyshev_neighbourhood(q.shape, (x, y), radius)].sum()
    return out


def test_neighbourhood_is_periodic_in_y_and_open_in_x():
    mask = chebyshev_neighbourhood((LX, LY), (0, 6), 1)
    assert mask.sum() == 2 * 3  # x in {0, 1} (x = -1 does not exist), y in {5, 6, 0}
    assert mask[0, 0] and mask[1, 5] and not mask[2, 6] and not mask[0, 4]


def test_floor_is_zero_beyond_the_range_of_an_exactly_local_force():
    # F_i = tanh(sum of Q within radius 2 of i): a radius >= 2 sees everything it uses.
    rng = np.random.default_rng(0)
    q = rng.standard_normal((12, LX, LY))
    rows = locality_floor(lambda c: np.tanh(windowed_sum(c, 2)), q, [1, 2, 3], n_samples=60)
    floors = {row["radius"]: row["floor"] for row in rows}
    assert floors[2] == 0.0 and floors[3] == 0.0
    assert floors[1] > 0.05  # and one that is too short misses part of it


def test_floor_matches_the_conditional_spread_in_closed_form():
    # F_i = c * (sum of Q outside radius R of i), Q i.i.d. N(0, 1): given the inside, F_i
    # has variance c^2 n_out(i), so the floor is c sqrt(mean over sites of n_out(i)).
    c, radius = 0.3, 2
    rng = np.random.default_rng(1)
    q = rng.standard_normal((40, LX, LY))

    def force(config):
        return c * (config.sum() - windowed_sum(config, radius))

    n_out = np.array([[LX * LY - chebyshev_neighbourhood((LX, LY), (x, y), radius).sum()
                       for y in range(LY)] for x in range(LX)])
    exact = c * np.sqrt(n_out.mean())
    (row,) = locality_floor(force, q, [radius], n_samples=2000, seed=2)
    # relative statistical error of the estimate ~ 1/sqrt(2 * 2000) = 1.6 %: 5 sigma
    assert row["floor"] == pytest.approx(exact, rel=0.08)
    assert 0 < row["floor_error"] < 0.03 * exact


def test_too_few_frames_for_the_separation_is_an_error():
    q = np.zeros((5, LX, LY))
    with pytest.raises(ValueError, match="min_separation"):
        splice_differences(lambda c: c, q, 1, 3, np.random.default_rng(0), min_separation=5)


def test_several_forces_at_once_share_the_splices():
    # (Lx, Ly, K) forces: column k is what the k-th force alone gives on the same draws
    q = np.random.default_rng(3).standard_normal((10, LX, LY))

    def one(c):
        return np.tanh(windowed_sum(c, 3))

    single = splice_differences(one, q, 1, 25, np.random.default_rng(4))
    both = splice_differences(lambda c: np.stack([one(c), -2 * one(c)], axis=-1), q, 1, 25,
                              np.random.default_rng(4))
    assert both.shape == (25, 2)
    np.testing.assert_array_equal(both[:, 0], single)
    np.testing.assert_allclose(both[:, 1], -2 * single, atol=1e-15)

PHYSICS = DEFAULTS.physics


@pytest.fixture(scope="module")
def negf_run(tmp_path_factory):
    """A short NEGF trajectory on a 6 x 4 lattice: 21 frames."""
    path = tmp_path_factory.mktemp("floor") / "V2.2_s7.parquet"
    run_negf(path, {"Lx": 6, "Ly": 4}, PHYSICS, DEFAULTS.dynamics,
            bias=2.2, seed=7, n_steps=40, stride=2)
    return path


def test_trajectory_floor_is_the_floor_of_the_late_frames_of_the_file(negf_run):
    row = trajectory_floor(negf_run, [1, 2], n_samples=6, skip_fraction=0.4,
                           min_separation=3, seed=5)
    arrays, _ = read_trajectory(negf_run)
    assert (row["first_late_frame"], row["n_late_frames"]) == (8, 13)  # int(0.4 * 21)
    assert row["lattice"] == {"Lx": 6, "Ly": 4} and (row["bias"], row["seed"]) == (2.2, 7)
    # the same draws on the late frames, computed here from the arrays: equal to the bit
    negf = negf_provider(PHYSICS, "fast")
    direct = locality_floor(lambda c: negf.electronic_force(c, 2.2), arrays["q"][8:], [1, 2],
                            n_samples=6, seed=5, min_separation=3)
    std = float(np.std(arrays["force"]))
    assert row["force_std"] == std
    for got, want in zip(row["floors"], direct, strict=True):
        assert got["floor"] == want["floor"] and got["floor"] > 0
        assert got["relative_floor"] == want["floor"] / std


def test_late_slice_refuses_a_fraction_that_leaves_nothing():
    assert late_slice(10, 0.0) == slice(0, None)
    with pytest.raises(ValueError, match="skip_fraction"):
        late_slice(10, 1.0)


def test_trajectory_without_forces_is_refused(negf_run, tmp_path):
    path = tmp_path / "q_only.parquet"
    run_negf(path, {"Lx": 6, "Ly": 4}, PHYSICS, DEFAULTS.dynamics, bias=2.2,
            seed=7, n_steps=4, stride=2, record=("current",))
    with pytest.raises(ValueError, match="no stored force"):
        trajectory_floor(path, [1], n_samples=2, skip_fraction=0.0, min_separation=1)


def test_known_forces_of_the_frames_give_the_same_floor_with_half_the_solves():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((12, LX, LY))
    calls = []

    def force(c):
        calls.append(1)
        return np.tanh(windowed_sum(c, 2))

    solved = locality_floor(force, q, [1, 3], n_samples=30, seed=4)
    n_solved = len(calls)
    calls.clear()
    given = locality_floor(force, q, [1, 3], n_samples=30, seed=4,
                           forces=np.array([np.tanh(windowed_sum(c, 2)) for c in q]))
    assert given == solved  # same draws, same forces: identical rows
    assert len(calls) == 2 * 30 < n_solved  # only the spliced configurations
