"""The relaxed start: a fixed point of the V = 0 dynamics to 1e-8, stable, symmetric, with the
mean-field bulk amplitude; its file round trip and the start selection."""

import numpy as np
import pytest
from schema_defaults import DEFAULTS
from scipy.optimize import brentq

from holstein.physics.dynamics import run_brownian
from holstein.physics.forces import elastic_force, negf_provider
from holstein.physics.initial import (
    RESIDUAL_TOLERANCE,
    initial_configuration,
    load_relaxed_state,
    relaxed_state,
    save_relaxed_state,
)
from holstein.physics.lattice import Lattice, cdw_amplitude

PHYSICS = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0, "temperature": 0.1,
           "bias_scheme": "gated"}
SHAPES = [(8, 6), (7, 4), (6, 1)]


@pytest.fixture(scope="module")
def relaxed():
    provider = negf_provider(PHYSICS, "exact")
    return {shape: relaxed_state(*shape, PHYSICS, provider) for shape in SHAPES}


def total_force(q, bias=0.0):
    """Independent of holstein.physics.initial: the NEGF force plus the elastic force."""
    electronic = DEFAULTS.steady_state(q, bias, t=PHYSICS["t"], g=PHYSICS["g"],
                                       gamma=PHYSICS["gamma"],
                                       temperature=PHYSICS["temperature"], method="exact")
    return electronic.electronic_force(PHYSICS["g"]) + elastic_force(q, PHYSICS["K"],
                                                                     PHYSICS["kappa"])


@pytest.mark.parametrize("shape", SHAPES)
def test_relaxed_state_has_no_force_left_on_any_site(relaxed, shape):
    state = relaxed[shape]
    residual = np.max(np.abs(total_force(state.q)))
    assert residual <= RESIDUAL_TOLERANCE and state.residual <= RESIDUAL_TOLERANCE
    # ... where the checkerboard start has a force of order 0.1-1
    assert np.max(np.abs(total_force(DEFAULTS.checkerboard(*shape)))) > 0.1
    assert np.all(state.stiffness > 0)  # a minimum along the symmetric modes


def test_relaxed_state_is_a_stable_fixed_point_of_the_zero_temperature_dynamics(relaxed):
    state = relaxed[(8, 6)]
    params = DEFAULTS.brownian(temperature=0.0)
    provider = negf_provider(PHYSICS, "exact")
    still = run_brownian(state.q, provider, 0.0, params, n_steps=20, seed=0, stride=20)
    assert np.max(np.abs(still.q[-1] - state.q)) < 1e-8
    # A perturbation that breaks every symmetry decays back: stable in the full space too.
    kick = 1e-3 * np.random.default_rng(4).standard_normal(state.q.shape)
    back = run_brownian(state.q + kick, provider, 0.0, params, n_steps=40, seed=0, stride=40)
    assert np.max(np.abs(back.q[-1] - state.q)) < 0.3 * np.max(np.abs(kick))


@pytest.mark.parametrize("shape", SHAPES)
def test_relaxed_state_keeps_the_symmetries_of_the_checkerboard(relaxed, shape):
    q = relaxed[shape].q
    Lx, Ly = shape
    sign = Lattice(Lx, Ly).staggered_sign()
    if Ly > 1:
        np.testing.assert_array_equal(q, np.roll(q, 2, axis=1))  # y translation by 2
        np.testing.assert_array_equal(np.roll(q, 1, axis=1), -q)  # by 1, with Q -> -Q
    # Mirror x -> Lx - 1 - x (the V = 0 leads are equivalent), not imposed by the method.
    phi = (sign * q).mean(axis=1)
    np.testing.assert_allclose(phi[::-1], phi, rtol=0, atol=1e-9)
    assert np.all(phi > 0)  # the same CDW domain as the start


def test_bulk_of_a_long_sample_is_the_self_consistent_mean_field_amplitude():
    """Far from the electrodes phi solves (K - 4 kappa) phi = g <(Delta / 2E) tanh(E / 2kT)>
    over the bands E = sqrt(eps_k^2 + Delta^2), Delta = g phi, of the infinite lattice with
    the sample's Ly wave numbers (independent closed form)."""
    Lx, Ly = 20, 4
    g, kT = PHYSICS["g"], PHYSICS["temperature"]
    kx = (np.arange(4000) + 0.5) * 2 * np.pi / 4000
    ky = 2 * np.pi * np.arange(Ly) / Ly
    eps = -2 * PHYSICS["t"] * (np.cos(kx)[:, None] + np.cos(ky)[None, :])

    def balance(phi):
        energy = np.sqrt(eps**2 + (g * phi) ** 2)
        staggered_density = np.mean(g * phi / (2 * energy) * np.tanh(energy / (2 * kT)))
        return g * staggered_density - (PHYSICS["K"] - 4 * PHYSICS["kappa"]) * phi

    bulk = brentq(balance, 0.5, 3.0)
    state = relaxed_state(Lx, Ly, PHYSICS, negf_provider(PHYSICS, "exact"))
    centre = state.profile[Lx // 2]
    assert abs(centre - bulk) < 2e-4, (centre, bulk)
    # below the atomic-limit amplitude 2.68 and weakest at the electrodes
    assert bulk < 0.9 * cdw_amplitude(g, PHYSICS["K"], PHYSICS["kappa"])
    assert state.profile[0] < 0.65 * centre


def test_relaxed_file_round_trip_and_a_file_of_other_physics_is_refused(relaxed, tmp_path):
    state = relaxed[(8, 6)]
    path = tmp_path / "relaxed_8x6.npz"
    save_relaxed_state(path, state, PHYSICS, "exact")
    lattice = {"Lx": 8, "Ly": 6}
    q = initial_configuration(lattice, PHYSICS, "relaxed", path)
    np.testing.assert_array_equal(q, state.q)
    np.testing.assert_array_equal(load_relaxed_state(path, lattice, PHYSICS), state.q)
    with pytest.raises(ValueError, match="delete it and re-run"):
        load_relaxed_state(path, lattice, {**PHYSICS, "gamma": 2.0})
    with pytest.raises(ValueError, match="delete it and re-run"):
        load_relaxed_state(path, {"Lx": 8, "Ly": 8}, PHYSICS)


def test_start_selection():
    lattice = {"Lx": 6, "Ly": 4}
    np.testing.assert_array_equal(initial_configuration(lattice, PHYSICS, "checkerboard"),
                                  DEFAULTS.checkerboard(6, 4))
    with pytest.raises(ValueError, match="relaxed state file"):
        initial_configuration(lattice, PHYSICS, "relaxed")
    with pytest.raises(ValueError, match="choose one of"):
        initial_configuration(lattice, PHYSICS, "random")
    with pytest.raises(ValueError, match="even Ly"):
        relaxed_state(6, 5, PHYSICS, negf_provider(PHYSICS, "fast"))
