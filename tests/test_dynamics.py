"""Brownian integrator: exact one-step update, reproducibility, equipartition of normal modes."""

import numpy as np
import pytest
import torch
from schema_defaults import DEFAULTS

from holstein.physics.dynamics import BrownianIntegrator, run_brownian
from holstein.physics.forces import ElectronicResponse, elastic_force
from holstein.physics.langevin import INTEGRATORS
from holstein.physics.lattice import Lattice


class ZeroForce:
    """g = 0: the electrons exert no force."""

    def evaluate(self, q, bias, observables=True):
        return ElectronicResponse(force=np.zeros_like(q))

    def electronic_force(self, q, bias):
        return self.evaluate(q, bias).force


def test_elastic_force_matches_dense_stiffness_matrix():
    rng = np.random.default_rng(0)
    for shape in [(5, 4), (3, 1), (4, 3)]:
        q = rng.normal(size=shape)
        lat = Lattice(*shape)
        stiffness = 1.3 * np.eye(lat.n_sites) + 0.2 * lat.adjacency()
        expected = -(stiffness @ q.ravel()).reshape(shape)
        np.testing.assert_allclose(elastic_force(q, 1.3, 0.2), expected, atol=1e-14)


def test_zero_temperature_step_is_the_deterministic_euler_update():
    q0 = np.random.default_rng(1).normal(size=(4, 4))
    params = DEFAULTS.brownian(K=1.0, kappa=0.18, temperature=0.0, damping=0.2, dt=0.1)
    integ = BrownianIntegrator(q0, ZeroForce(), 0.0, params, seed=3)
    integ.advance(integ.electronic())
    expected = q0 + 0.5 * elastic_force(q0, 1.0, 0.18)
    np.testing.assert_allclose(integ.q, expected, atol=1e-15)


def test_same_seed_same_trajectory_and_different_seed_differs():
    q0 = DEFAULTS.checkerboard(6, 4)
    provider = DEFAULTS.negf_provider(gamma=1.0, temperature=0.1)
    params = DEFAULTS.brownian()
    a = run_brownian(q0, provider, 1.0, params, n_steps=6, seed=11, stride=2)
    b = run_brownian(q0, provider, 1.0, params, n_steps=6, seed=11, stride=2)
    c = run_brownian(q0, provider, 1.0, params, n_steps=6, seed=12, stride=2)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.density, b.density)
    assert np.abs(a.q[-1] - c.q[-1]).max() > 1e-3
    # frames at steps 0, 2, 4, 6 with the response of the recorded q
    np.testing.assert_array_equal(a.steps, [0, 2, 4, 6])
    np.testing.assert_allclose(a.times, a.steps * params.dt)
    np.testing.assert_allclose(a.force, -1.5 * (a.density - 0.5), atol=1e-15)
    assert a.bond_current_x.shape == (4, 5, 4) and a.bond_current_y.shape == (4, 6, 4)
    np.testing.assert_allclose(a.bond_current_x.sum(axis=2), a.current[:, None] * np.ones(5),
                               atol=1e-10)


def test_leimkuhler_matthews_steps_reuse_the_previous_noise():
    """Q_{n+1} = Q_n + (dt/damping) F(Q_n) + sqrt(kT dt / (2 damping)) (xi_n + xi_{n+1})."""
    q0 = np.random.default_rng(1).normal(size=(4, 3))
    params = DEFAULTS.brownian(temperature=0.3, integrator="leimkuhler-matthews")
    integ = BrownianIntegrator(q0, ZeroForce(), 0.0, params, seed=8)
    gen = torch.Generator().manual_seed(8)  # the integrator's stream on the CPU
    xi = [torch.randn((4, 3), generator=gen, dtype=torch.float64).numpy() for _ in range(3)]
    amplitude = np.sqrt(0.3 * params.dt / (2 * params.damping))
    expected = q0
    for n in range(2):
        integ.advance(integ.electronic())
        drift = (params.dt / params.damping) * elastic_force(expected, params.K, params.kappa)
        expected = expected + drift + amplitude * (xi[n] + xi[n + 1])
        np.testing.assert_allclose(integ.q, expected, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(integ.pending, xi[2])


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_state_round_trip_continues_the_same_random_stream(integrator):
    q0 = np.random.default_rng(2).normal(size=(4, 3))
    params = DEFAULTS.brownian(integrator=integrator)
    ref = BrownianIntegrator(q0, ZeroForce(), 0.0, params, seed=5)
    for _ in range(10):
        ref.advance(ref.electronic())
    first = BrownianIntegrator(q0, ZeroForce(), 0.0, params, seed=5)
    for _ in range(4):
        first.advance(first.electronic())
    resumed = BrownianIntegrator(q0 * 0, ZeroForce(), 0.0, params, seed=999)
    resumed.set_state(first.get_state())
    for _ in range(6):
        resumed.advance(resumed.electronic())
    np.testing.assert_array_equal(resumed.q, ref.q)
    assert resumed.step == 10


def test_state_of_the_other_scheme_is_refused():
    q0 = np.zeros((4, 3))
    euler = BrownianIntegrator(q0, ZeroForce(), 0.0,
                               DEFAULTS.brownian(integrator="euler-maruyama"), seed=1)
    lm = BrownianIntegrator(q0, ZeroForce(), 0.0,
                            DEFAULTS.brownian(integrator="leimkuhler-matthews"), seed=1)
    with pytest.raises(ValueError, match="other scheme"):
        euler.set_state(lm.get_state())
    with pytest.raises(ValueError, match="other scheme"):
        lm.set_state(euler.get_state())


def _mode_variances(params, shape, n_steps, seed, n_batches=40):
    """Stationary variance of every elastic normal mode (g = 0) and its batch-means error.

    Each mode of the stiffness matrix K I + kappa A is an independent Ornstein-Uhlenbeck
    process; the run starts at Q = 0 and the first 1 % of the steps is discarded.
    """
    lat = Lattice(*shape)
    stiffness, modes = np.linalg.eigh(params.K * np.eye(lat.n_sites)
                                      + params.kappa * lat.adjacency())
    integ = BrownianIntegrator(np.zeros(shape), ZeroForce(), 0.0, params, seed)
    zero = ZeroForce().evaluate(integ.q, 0.0)
    q = np.empty((n_steps, lat.n_sites))
    for k in range(n_steps):
        integ.advance(zero)
        q[k] = integ.q.ravel()
    amplitudes = q[n_steps // 100:] @ modes
    batches = amplitudes[: (len(amplitudes) // n_batches) * n_batches]
    batch_var = (batches.reshape(n_batches, -1, lat.n_sites) ** 2).mean(axis=1)
    var = batch_var.mean(axis=0)
    return stiffness, var, batch_var.std(axis=0, ddof=1) / np.sqrt(n_batches)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_normal_mode_variances_match_the_schemes_closed_forms(integrator):
    """At the default dt = 0.1, damping = 0.2 (dt k / damping up to 0.81 here), g = 0.

    Exact stationary variance of a mode of stiffness k: Euler-Maruyama
    kT / (k (1 - dt k / (2 damping))) (1.10x to 1.68x the temperature here),
    Leimkuhler-Matthews kT / k.  Each of the 12 modes of a 4 x 3 lattice (kappa = 0.18)
    within 5 % and 4 batch-means standard errors of its scheme's value, and the other
    scheme's value excluded for the stiff modes.
    """
    kT = 0.1
    params = DEFAULTS.brownian(K=1.0, kappa=0.18, temperature=kT, damping=0.2, dt=0.1,
                                integrator=integrator)
    stiffness, var, err = _mode_variances(params, (4, 3), n_steps=60_000, seed=2024)
    equipartition = kT / stiffness
    euler = equipartition / (1 - params.dt * stiffness / (2 * params.damping))
    expected, other = ((euler, equipartition) if integrator == "euler-maruyama"
                       else (equipartition, euler))
    np.testing.assert_allclose(var / expected, 1.0, rtol=0.05)
    z = (var - expected) / err
    assert np.all(np.abs(z) < 4.0), z
    stiff = stiffness > params.K
    assert np.all(np.abs(var[stiff] / other[stiff] - 1) > 0.15)


def test_noise_substeps_couple_a_run_to_one_at_half_the_time_step():
    """Euler-Maruyama with no electrons and no coupling (K = 1, kappa = 0): each step is
    q' = (1 - dt/gamma) q + a(dt) xi, so the normals can be read back from a trajectory.
    A run at dt with 2 substeps uses xi = (n_1 + n_2) / sqrt(2) of the normals n_k that a
    run at dt / 2 with the same seed uses one per step."""
    q0 = np.random.default_rng(2).normal(size=(5, 3))
    common = dict(K=1.0, kappa=0.0, temperature=0.1, damping=0.2, integrator="euler-maruyama")

    def normals(dt, substeps, n_steps):
        params = DEFAULTS.brownian(dt=dt, noise_substeps=substeps, **common)
        q = run_brownian(q0, ZeroForce(), 0.0, params, n_steps=n_steps, seed=4).q
        return (q[1:] - (1 - dt / 0.2) * q[:-1]) / params.noise_amplitude

    fine = normals(0.05, 1, 20)
    coarse = normals(0.1, 2, 10)
    np.testing.assert_allclose(coarse, (fine[0::2] + fine[1::2]) / np.sqrt(2), atol=1e-12)
    uncoupled = normals(0.1, 1, 10)
    assert np.abs(uncoupled - coarse).max() > 0.1
    with pytest.raises(ValueError, match="noise_substeps"):
        DEFAULTS.brownian(noise_substeps=0)
