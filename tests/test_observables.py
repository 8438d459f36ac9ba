"""Tests of holstein.physics.observables on hand-made configurations and profiles with known
answers."""

import math

import numpy as np
import pytest

from holstein.physics.lattice import cdw_amplitude, checkerboard
from holstein.physics.observables import (
    WallFit,
    column_profile,
    device_current,
    domain_wall_position,
    domain_wall_velocity,
    half_decay_time,
    kirchhoff_spread,
    order_parameter,
    series_current,
    staggered_order,
    switching_time,
)

LX, LY = 8, 5  # odd Ly on purpose: the staggered sign must not assume an even ring
G, K, KAPPA = 1.5, 1.0, 0.18
AMPLITUDE = G / (2 * (K - 4 * KAPPA))


# --- staggered order, column profile, order parameter ------------------------------------


def test_checkerboard_amplitude_is_the_documented_value():
    assert cdw_amplitude(G, K, KAPPA) == pytest.approx(AMPLITUDE, rel=1e-15)


def test_staggered_order_of_checkerboard_is_the_constant_amplitude():
    phi = staggered_order(checkerboard(LX, LY, G, K, KAPPA))
    assert phi.shape == (LX, LY)
    np.testing.assert_allclose(phi, AMPLITUDE, rtol=1e-15)


def test_staggered_order_signs_single_sites():
    # One displaced site at (x, y) must come back with the sign (-1)^(x+y).
    for x, y, sign in [(0, 0, 1.0), (1, 0, -1.0), (0, 1, -1.0), (3, 2, -1.0), (4, 4, 1.0)]:
        q = np.zeros((LX, LY))
        q[x, y] = 0.7
        phi = staggered_order(q)
        assert phi[x, y] == sign * 0.7
        assert np.count_nonzero(phi) == 1


def test_column_profile_of_checkerboard_is_the_amplitude():
    profile = column_profile(checkerboard(LX, LY, G, K, KAPPA))
    assert profile.shape == (LX,)
    np.testing.assert_allclose(profile, AMPLITUDE, rtol=1e-15)


def test_column_profile_averages_over_y():
    # Column x carries the checkerboard on only its first y site, so phi(x) = A / Ly there.
    q = checkerboard(LX, LY, G, K, KAPPA)
    q[2, 1:] = 0.0
    profile = column_profile(q)
    assert profile[2] == pytest.approx(AMPLITUDE / LY, rel=1e-14)
    np.testing.assert_allclose(np.delete(profile, 2), AMPLITUDE, rtol=1e-15)


def test_order_parameter_of_checkerboard_against_itself_flipped_and_melted():
    cb = checkerboard(LX, LY, G, K, KAPPA)
    assert order_parameter(cb, cb) == pytest.approx(1.0, rel=1e-15)
    assert order_parameter(-cb, cb) == pytest.approx(-1.0, rel=1e-15)
    assert order_parameter(np.zeros_like(cb), cb) == 0.0
    assert order_parameter(0.25 * cb, cb) == pytest.approx(0.25, rel=1e-15)
    assert isinstance(order_parameter(cb, cb), float)


def test_order_parameter_of_half_melted_sample():
    # Left half metallic (Q = 0), right half CDW: half the sites ordered -> 0.5.
    cb = checkerboard(LX, LY, G, K, KAPPA)
    q = cb.copy()
    q[: LX // 2] = 0.0
    assert order_parameter(q, cb) == pytest.approx(0.5, rel=1e-14)


def test_batched_shapes():
    rng = np.random.default_rng(1)
    cb = checkerboard(LX, LY, G, K, KAPPA)
    scales = np.array([1.0, 0.5, 0.0, -1.0])
    trajectory = scales[:, None, None] * cb
    assert staggered_order(trajectory).shape == (4, LX, LY)
    assert column_profile(trajectory).shape == (4, LX)
    np.testing.assert_allclose(order_parameter(trajectory, cb), scales, rtol=1e-15)
    # Each frame of a batch gives what it gives alone (two leading axes as well).
    batch = rng.normal(size=(2, 3, LX, LY))
    np.testing.assert_allclose(
        staggered_order(batch)[1, 2], staggered_order(batch[1, 2]), rtol=0, atol=0
    )
    np.testing.assert_allclose(column_profile(batch)[0, 1], column_profile(batch[0, 1]), rtol=1e-15)
    assert order_parameter(batch, cb).shape == (2, 3)
    assert order_parameter(batch, cb)[1, 0] == pytest.approx(
        order_parameter(batch[1, 0], cb), rel=1e-14
    )


def test_order_parameter_rejects_reference_without_order():
    cb = checkerboard(LX, LY, G, K, KAPPA)
    with pytest.raises(ValueError, match="zero staggered order"):
        order_parameter(cb, np.zeros_like(cb))
    # A uniform displacement on an even-sized lattice has zero staggered mean as well.
    with pytest.raises(ValueError, match="zero staggered order"):
        order_parameter(np.ones((4, 4)), np.ones((4, 4)))


def test_order_parameter_rejects_reference_of_wrong_shape():
    cb = checkerboard(LX, LY, G, K, KAPPA)
    with pytest.raises(ValueError, match="reference"):
        order_parameter(cb, cb[:-1])


def test_column_profile_of_many_frames_is_the_profile_of_each():
    """The space-time map of a run (a kymograph's colours) is one call on all frames."""
    rng = np.random.default_rng(2)
    trajectory = rng.normal(size=(6, LX, LY))
    kymo = column_profile(trajectory)
    assert kymo.shape == (6, LX)
    for frame, row in zip(trajectory, kymo, strict=True):
        np.testing.assert_allclose(row, column_profile(frame), rtol=1e-15)


# --- domain-wall position -----------------------------------------------------------------


def test_wall_position_of_step_profile_is_midway():
    # Metal on columns 0..4, CDW of amplitude A from column 5: half of A is crossed at 4.5.
    profile = np.where(np.arange(12) >= 5, AMPLITUDE, 0.0)
    assert domain_wall_position(profile, AMPLITUDE) == pytest.approx(4.5, abs=1e-15)


def test_wall_position_of_linear_ramp_is_the_analytic_crossing():
    # phi(x) = s x crosses A / 2 at x = A / (2 s) = 3.7, between columns 3 and 4.
    slope = AMPLITUDE / 7.4
    profile = slope * np.arange(10.0)
    assert domain_wall_position(profile, AMPLITUDE) == pytest.approx(3.7, abs=1e-13)


def test_wall_position_edge_cases():
    lx = 9
    assert domain_wall_position(np.full(lx, AMPLITUDE), AMPLITUDE) == 0.0
    assert domain_wall_position(np.zeros(lx), AMPLITUDE) == lx - 1
    # Exactly half at column 0 counts as insulating; just below half everywhere is molten.
    assert domain_wall_position(np.full(lx, 0.5 * AMPLITUDE), AMPLITUDE) == 0.0
    assert domain_wall_position(np.full(lx, 0.49 * AMPLITUDE), AMPLITUDE) == lx - 1


def test_wall_position_counts_negative_domain_as_insulating():
    profile = np.where(np.arange(12) >= 5, -AMPLITUDE, 0.0)
    assert domain_wall_position(profile, AMPLITUDE) == pytest.approx(4.5, abs=1e-15)
    assert domain_wall_position(-np.full(6, AMPLITUDE), AMPLITUDE) == 0.0


def test_wall_position_takes_first_crossing_from_gated_electrode():
    # An insulating island at columns 2..3 comes before the bulk CDW at 7: the wall is at 1.5.
    profile = np.zeros(10)
    profile[2:4] = AMPLITUDE
    profile[7:] = AMPLITUDE
    assert domain_wall_position(profile, AMPLITUDE) == pytest.approx(1.5, abs=1e-15)


def test_wall_position_over_frames_matches_single_frames():
    lx = 11
    x = np.arange(lx)
    profiles = np.stack(
        [
            np.full(lx, AMPLITUDE),  # intact CDW -> 0
            np.where(x >= 3, AMPLITUDE, 0.0),  # -> 2.5
            AMPLITUDE * np.clip((x - 4.0) / 4.0, 0, 1),  # A/2 at x = 6
            np.zeros(lx),  # molten -> Lx - 1
        ]
    )
    positions = domain_wall_position(profiles, AMPLITUDE)
    np.testing.assert_allclose(positions, [0.0, 2.5, 6.0, lx - 1], atol=1e-14)
    for profile, position in zip(profiles, positions, strict=True):
        assert domain_wall_position(profile, AMPLITUDE) == position


@pytest.mark.parametrize("bulk_value", [0.0, -1.0, float("nan")])
def test_wall_position_needs_positive_bulk_value(bulk_value):
    with pytest.raises(ValueError, match="bulk_value"):
        domain_wall_position(np.ones(5), bulk_value)


# --- domain-wall velocity -----------------------------------------------------------------


def test_wall_velocity_recovers_constant_speed_and_drops_clipped_frames():
    lx, margin, speed, start = 30, 1.0, 0.37, -2.0
    times = np.arange(120) * 1.0
    positions = np.clip(start + speed * times, 0.0, lx - 1)
    fit = domain_wall_velocity(times, positions, lx, margin)
    assert isinstance(fit, WallFit)
    assert fit.velocity == pytest.approx(speed, abs=1e-12)
    assert fit.intercept == pytest.approx(start, abs=1e-10)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12)
    # window: first frame past the margin .. first frame at 80 % of the reach (lx - 1 here)
    start = np.argmax(positions > margin)
    end = np.argmax(positions >= margin + 0.8 * (lx - 1 - margin))
    assert fit.n_points == end - start + 1
    assert fit.n_points < times.size - 10  # the clipped frames at both ends are really out
    assert (fit.t_start, fit.t_end) == (times[start], times[end])
    assert positions[0] == 0.0 and positions[-1] == lx - 1


def test_wall_velocity_ignores_a_wall_stalled_before_the_far_electrode():
    # The wall sweeps at 0.5 sites per time unit, then stalls at x = 15 in front of the
    # CDW remnant held by the ungated electrode: the stall must not lower the velocity.
    lx = 20
    times = np.arange(0.0, 80.0)
    positions = np.minimum(0.5 * times, 15.0)
    fit = domain_wall_velocity(times, positions, lx)
    assert fit.velocity == pytest.approx(0.5, abs=1e-12)
    assert fit.t_end <= 30.0


def test_wall_velocity_of_a_wall_that_never_moves_is_zero():
    times = np.linspace(0.0, 50.0, 26)
    fit = domain_wall_velocity(times, np.zeros_like(times), 20)
    assert fit.velocity == 0.0
    assert fit.n_points == 0
    assert math.isnan(fit.stderr)
    # Jitter within the margin of the gated electrode is still "never moved".
    fit = domain_wall_velocity(times, np.full_like(times, 0.8), 20, margin=1.0)
    assert fit.velocity == 0.0 and fit.n_points == 0


def test_wall_velocity_of_abrupt_collapse_is_nan():
    lx = 20
    times = np.arange(10.0)
    positions = np.where(times >= 4, lx - 1.0, 0.0)  # 0 -> Lx - 1 within one frame
    fit = domain_wall_velocity(times, positions, lx)
    assert math.isnan(fit.velocity)
    assert math.isnan(fit.stderr)
    assert fit.n_points == 1


def test_wall_velocity_with_three_points_is_a_fit():
    lx = 20
    times = np.arange(6.0)
    positions = np.array([0.0, 0.0, 6.0, 10.0, 14.0, 15.0])
    fit = domain_wall_velocity(times, positions, lx)  # 80 % of the reach 15: x >= 12.2
    assert fit.n_points == 3
    assert fit.velocity == pytest.approx(4.0, abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12)
    assert (fit.t_start, fit.t_end) == (2.0, 4.0)


def test_wall_velocity_with_noise_is_within_three_standard_errors():
    rng = np.random.default_rng(12345)
    lx, speed, start, noise = 40, 0.21, 1.5, 0.3
    times = np.arange(0.0, 200.0, 2.0)
    positions = np.clip(start + speed * times + noise * rng.normal(size=times.size), 0, lx - 1)
    fit = domain_wall_velocity(times, positions, lx)
    assert fit.n_points > 50
    assert 0 < fit.stderr < 0.01  # noise / sqrt(sum dt^2) ~ 0.3 / 180 here
    assert abs(fit.velocity - speed) < 3 * fit.stderr


def test_wall_velocity_stderr_matches_textbook_formula():
    # Seeded scattered points, all inside the window: compare with numpy's fit and the
    # closed-form standard error sqrt(SSR / (n - 2) / sum (t - mean t)^2).
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 10, size=12))
    positions = 2.0 + 1.1 * times + 0.2 * rng.normal(size=12)
    fit = domain_wall_velocity(times, positions, 100, margin=0.5, fraction=1.0)
    assert fit.n_points == 12
    slope, intercept = np.polyfit(times, positions, 1)
    residuals = positions - (slope * times + intercept)
    expected = np.sqrt(residuals @ residuals / 10 / np.sum((times - times.mean()) ** 2))
    assert fit.velocity == pytest.approx(slope, rel=1e-12)
    assert fit.intercept == pytest.approx(intercept, rel=1e-12)
    assert fit.stderr == pytest.approx(expected, rel=1e-10)


def test_wall_velocity_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        domain_wall_velocity(np.arange(4.0), np.arange(5.0), 20)
    with pytest.raises(ValueError, match="propagation window"):
        domain_wall_velocity(np.arange(4.0), np.arange(4.0), 3, margin=1.0)


# --- half-decay time ------------------------------------------------------------------------


def test_half_decay_time_of_exponential():
    tau, dt = 3.0, 0.01
    times = np.arange(0.0, 10.0, dt)
    order = np.exp(-times / tau)
    estimate = half_decay_time(times, order)
    exact = tau * math.log(2.0)
    # Linear interpolation of a convex decay crosses late, by at most
    # (dt^2 / 8) max|f''| / min|f'| over the step = dt^2 / (8 tau) * exp(dt / tau) ~ 4e-6.
    bound = dt**2 / (8 * tau) * math.exp(dt / tau)
    assert 0.0 <= estimate - exact <= bound


def test_half_decay_time_is_exact_for_linear_decay_and_frame_hits():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    assert half_decay_time(times, np.array([1.0, 0.8, 0.4, 0.1])) == pytest.approx(1.75)
    assert half_decay_time(times, np.array([1.0, 0.5, 0.4, 0.1])) == 1.0
    # "0.5 or below": a plateau exactly at one half has decayed.
    assert half_decay_time(times, np.array([1.0, 0.5, 0.5, 0.5])) == 1.0
    # The first drop counts even if the order recovers later.
    assert half_decay_time(times, np.array([1.0, 0.0, 1.0, 1.0])) == pytest.approx(0.5)


def test_half_decay_time_never_decaying_is_nan():
    times = np.linspace(0.0, 5.0, 11)
    assert math.isnan(half_decay_time(times, np.full(11, 0.9)))
    assert math.isnan(half_decay_time(times, 1.0 - 0.09 * times))  # ends at 0.55


def test_switching_time_is_exact_for_a_linear_rise():
    times = np.linspace(0.0, 10.0, 11)
    # I(t) = 0.1 t reaches half of the final 0.8 at t = 4 (a frame) ...
    assert switching_time(times, 0.1 * times, 0.8) == pytest.approx(4.0, abs=1e-12)
    # ... and half of 0.9 at t = 4.5, between frames (linear interpolation is exact).
    assert switching_time(times, 0.1 * times, 0.9) == pytest.approx(4.5, abs=1e-12)
    # The sign of the current does not matter: it is measured against its final value.
    assert switching_time(times, -0.1 * times, -0.9) == pytest.approx(4.5, abs=1e-12)
    # Half-way from an initial offset: I = 0.2 + 0.1 t from 0.2 to 1.2 is half-way at t = 5.
    assert switching_time(times, 0.2 + 0.1 * times, 1.2, 0.2) == pytest.approx(5.0, abs=1e-12)


def test_switching_time_undefined_cases_are_nan():
    times = np.linspace(0.0, 10.0, 11)
    assert math.isnan(switching_time(times, np.full(11, 0.1), 1.0))  # never reaches 0.5
    assert math.isnan(switching_time(times, 0.1 * times, 0.0))  # no final current
    assert math.isnan(switching_time(times, 0.1 * times, 0.3, 0.3))  # no change
    assert math.isnan(switching_time(times, 0.1 * times, math.nan))
    assert switching_time(times, np.full(11, 1.0), 1.0) == 0.0  # switched from the start
    with pytest.raises(ValueError, match="current"):
        switching_time(times, np.ones(3), 1.0)


# --- device current ---------------------------------------------------------------------------


def test_device_current_with_equal_cross_sections():
    # Bond currents that vary along y but sum to the same 0.42 in every cross-section.
    rng = np.random.default_rng(3)
    lx, ly, total = 7, 5, 0.42
    weights = rng.uniform(0.1, 1.0, size=(lx - 1, ly))
    bond_current_x = total * weights / weights.sum(axis=1, keepdims=True)
    assert device_current(bond_current_x) == pytest.approx(total, rel=1e-14)
    assert kirchhoff_spread(bond_current_x) == pytest.approx(0.0, abs=1e-15)
    # exact (conserved) bond currents: read in series they give the same current
    assert series_current(bond_current_x) == pytest.approx(total, rel=1e-13)

    perturbed = bond_current_x.copy()
    perturbed[3, 2] += 0.05
    assert kirchhoff_spread(perturbed) == pytest.approx(0.05, rel=1e-12)
    assert device_current(perturbed) == pytest.approx(total + 0.05 / (lx - 1), rel=1e-14)


def test_device_current_over_frames():
    lx, ly = 5, 3
    per_frame = np.array([0.1, -0.2, 0.0])
    bond_current_x = np.broadcast_to(per_frame[:, None, None] / ly, (3, lx - 1, ly)).copy()
    bond_current_x[1, 0, 0] += 1.0
    np.testing.assert_allclose(
        device_current(bond_current_x), per_frame + [0.0, 1.0 / (lx - 1), 0.0], atol=1e-15
    )
    np.testing.assert_allclose(kirchhoff_spread(bond_current_x), [0.0, 1.0, 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="bond_current_x"):
        device_current(np.ones(4))


def test_series_current_adds_cross_section_resistances():
    # Two cross-sections carrying a and b alone: in series 1 / mean(1/a, 1/b) = 2ab/(a+b).
    a, b, ly = 0.3, 0.1, 4
    bond_current_x = np.array([[a / ly] * ly, [b / ly] * ly])
    assert series_current(bond_current_x) == pytest.approx(2 * a * b / (a + b), rel=1e-13)
    # A section with no or backward current blocks the device (about (Lx - 1) * 1e-12).
    for blocked in (0.0, -0.05):
        bonds = np.array([[a / ly] * ly, [blocked / ly] * ly])
        assert 0 < series_current(bonds) < 1e-10


def test_series_current_is_at_most_the_mean_over_frames():
    # Harmonic <= arithmetic mean, with equality only for equal cross-sections.
    rng = np.random.default_rng(6)
    bonds = rng.uniform(0.01, 0.1, size=(20, 9, 4))
    series, mean = series_current(bonds), device_current(bonds)
    assert series.shape == (20,)
    assert (series < mean).all()
    sections = bonds.sum(axis=-1)
    np.testing.assert_allclose(series, 1 / np.mean(1 / sections, axis=-1), rtol=1e-13)
