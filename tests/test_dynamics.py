"""Brownian integrator: exact one-step update, reproducibility, equipartition of normal modes."""

import numpy as np
import pytest

from holstein.dynamics import BrownianIntegrator, BrownianParameters, run_brownian
from holstein.forces import ElectronicResponse, NEGFForceProvider, elastic_force
from holstein.lattice import Lattice, checkerboard


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
    params = BrownianParameters(K=1.0, kappa=0.18, temperature=0.0, damping=0.2, dt=0.1)
    integ = BrownianIntegrator(q0, ZeroForce(), 0.0, params, seed=3)
    integ.advance(integ.electronic())
    expected = q0 + 0.5 * elastic_force(q0, 1.0, 0.18)
    np.testing.assert_allclose(integ.q, expected, atol=1e-15)


def test_same_seed_same_trajectory_and_different_seed_differs():
    q0 = checkerboard(6, 4)
    provider = NEGFForceProvider(gamma=1.0, temperature=0.1)
    params = BrownianParameters()
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


def test_state_round_trip_continues_the_same_random_stream():
    q0 = np.random.default_rng(2).normal(size=(4, 3))
    params = BrownianParameters()
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


def test_normal_mode_variance_is_kT_over_stiffness():
    """g = 0: each elastic normal mode is an Ornstein-Uhlenbeck process.

    Continuous time: <a_k^2> = kT / k_k.  Euler-Maruyama with a = dt k/damping has
    the exact stationary variance kT / (k (1 - a/2)); with dt = 0.02 the correction
    is below 9 %, and we compare with the exact discrete value within 4.5 standard
    errors (batch means) for each of the 16 modes.
    """
    Lx, Ly, kT = 4, 4, 0.1
    params = BrownianParameters(K=1.0, kappa=0.18, temperature=kT, damping=0.2, dt=0.02)
    lat = Lattice(Lx, Ly)
    stiffness, modes = np.linalg.eigh(params.K * np.eye(16) + params.kappa * lat.adjacency())
    n_steps, burn = 60_000, 2_000
    traj = run_brownian(np.zeros((Lx, Ly)), ZeroForce(), 0.0, params, n_steps, seed=2024)
    amplitudes = traj.q.reshape(len(traj.steps), -1)[burn:] @ modes
    batches = amplitudes[: (len(amplitudes) // 50) * 50].reshape(50, -1, 16)
    batch_var = (batches**2).mean(axis=1)
    var, err = batch_var.mean(axis=0), batch_var.std(axis=0, ddof=1) / np.sqrt(50)
    a = params.dt * stiffness / params.damping
    expected_discrete = kT / (stiffness * (1 - a / 2))
    z = (var - expected_discrete) / err
    assert np.all(np.abs(z) < 4.5), z
    # and the continuum equipartition value kT/k within discretisation + 3 % noise
    np.testing.assert_allclose(var * stiffness / kT, 1.0, rtol=0.12)


def test_unstable_time_step_is_rejected_before_running():
    with pytest.raises(ValueError, match="decrease dt"):
        BrownianParameters(K=1.0, kappa=0.18, damping=0.2, dt=0.3)
    with pytest.raises(ValueError, match="damping"):
        BrownianParameters(damping=0.0)
    with pytest.raises(ValueError, match="elastically unstable"):
        BrownianParameters(K=0.5, kappa=0.2)
