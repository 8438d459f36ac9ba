"""``MLForceProvider`` and ``load``: the force-provider contract, currents, dynamics, and
that inference does not import the training code.

* The model predicts every site, electrode columns included, on lattices of any size;
  force = -g (density - 1/2) exactly; batched prediction equals one-by-one.
* With bond heads the provider's current is ``device_current(bond_current_x)``; between
  recorded frames the dynamics asks for the force only (same force, no currents).
* The loaded provider drives ``holstein.physics.dynamics.run_brownian``.
* Importing ``holstein.ml.provider`` (what an ML Brownian run uses) loads none of the
  training modules (checked in a fresh interpreter).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from schema_defaults import DEFAULTS
from synthetic import PHYSICS, random_model

from holstein.ml.provider import MLForceProvider, load
from holstein.physics.dynamics import run_brownian
from holstein.physics.observables import device_current

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TRAINING_MODULES = ("holstein.ml.training.trainer", "holstein.ml.training.fit",
                    "holstein.ml.training.resume", "holstein.ml.training.parameters",
                    "holstein.stages.train", "holstein.data.shards")


def test_every_site_predicted_on_any_lattice():
    model = random_model(cutoff=2)
    provider = MLForceProvider(model, PHYSICS)
    rng = np.random.default_rng(4)
    for shape in [(8, 6), (2, 5), (20, 15), (5, 1), (3, 3)]:
        q = rng.standard_normal(shape)
        r = provider.evaluate(q, 1.0)
        assert r.force.shape == shape and r.density.shape == shape
        assert r.force.dtype == np.float64 and np.all(np.isfinite(r.force))
        np.testing.assert_allclose(r.force, -PHYSICS["g"] * (r.density - 0.5), atol=1e-12)
        assert r.bond_current_x is None and r.current is None
    # electrode columns are predicted (respond to Q there), not copied
    q = rng.standard_normal((8, 6))
    q2 = q.copy()
    q2[0, 3] += 1.0
    q2[-1, 3] += 1.0
    a, b = provider.electronic_force(q, 1.0), provider.electronic_force(q2, 1.0)
    assert abs(a[0, 3] - b[0, 3]) > 1e-6 and abs(a[-1, 3] - b[-1, 3]) > 1e-6
    # batched prediction = one by one
    qs = rng.standard_normal((3, 8, 6))
    batch = provider.predict_batch(qs, [0.0, 1.0, 2.0])["force"]
    for k, v in enumerate([0.0, 1.0, 2.0]):
        np.testing.assert_allclose(batch[k], provider.electronic_force(qs[k], v), atol=1e-5)


def test_provider_reports_bond_currents_and_device_current():
    model = random_model(cutoff=2, bond_heads=True, dtype=torch.float32)
    provider = MLForceProvider(model, PHYSICS)
    q = np.random.default_rng(11).standard_normal((7, 5))
    r = provider.evaluate(q, 1.2)
    assert r.bond_current_x.shape == (6, 5) and r.bond_current_y.shape == (7, 5)
    assert r.current == pytest.approx(device_current(r.bond_current_x), abs=1e-12)
    batch = provider.predict_batch(q[None].repeat(2, axis=0), [1.2, 0.3])
    np.testing.assert_allclose(batch["bond_current_x"][0], r.bond_current_x, atol=1e-6)
    assert batch["current"].shape == (2,) and batch["current"][0] == pytest.approx(r.current)
    traj = run_brownian(q, provider, 1.2, DEFAULTS.brownian(), n_steps=2, seed=0, stride=1)
    assert traj.bond_current_x.shape == (3, 6, 5) and np.all(np.isfinite(traj.current))
    # Between recorded frames the dynamics asks for the force only: same force, no heads.
    lean = provider.evaluate(q, 1.2, observables=False)
    np.testing.assert_array_equal(lean.force, r.force)
    assert lean.current is None and lean.bond_current_x is None
    # A run recording every 3rd step has the currents of exactly those frames.
    traj3 = run_brownian(q, provider, 1.2, DEFAULTS.brownian(), n_steps=6, seed=0, stride=3)
    full = run_brownian(q, provider, 1.2, DEFAULTS.brownian(), n_steps=6, seed=0, stride=1)
    np.testing.assert_array_equal(traj3.q, full.q[::3])
    np.testing.assert_array_equal(traj3.current, full.current[::3])


def test_provider_drives_brownian_dynamics(trained):
    provider = load(trained["path"], expect=PHYSICS, threads=1)
    q0 = DEFAULTS.checkerboard(12, 10)  # larger than the training lattice
    traj = run_brownian(q0, provider, 1.5, DEFAULTS.brownian(), n_steps=4, seed=3, stride=2)
    assert traj.force.shape == (3, 12, 10) and traj.density.shape == (3, 12, 10)
    np.testing.assert_allclose(traj.force, -PHYSICS["g"] * (traj.density - 0.5), atol=1e-12)
    assert traj.bond_current_x is None and np.all(np.isfinite(traj.q))
    assert np.abs(traj.q[-1] - q0).max() > 0


def test_inference_does_not_import_training():
    code = (
        "import json, sys\n"
        "import holstein.ml.provider, holstein.ml.metrics, holstein.stages.simulate_ml\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('holstein'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = json.loads(out.stdout)
    assert "holstein.ml.provider" in loaded and "holstein.ml.model" in loaded
    assert not set(TRAINING_MODULES) & set(loaded), loaded


@pytest.mark.gpu
def test_provider_on_the_gpu_matches_the_cpu(trained):
    """Same checkpoint, float32 on both devices: forces agree to float32 rounding."""
    from holstein.ml.provider import load

    q = trained["data"]["q"][:4]
    cpu = load(trained["path"]).predict_batch(q, 1.0)
    gpu = load(trained["path"], device="cuda").predict_batch(q, 1.0)
    scale = np.abs(cpu["force"]).max()
    assert np.abs(gpu["force"] - cpu["force"]).max() < 1e-5 * scale


class HostOnly:
    """The same provider without ``force_tensor``: every step goes through the host."""

    def __init__(self, provider):
        self.inner = provider

    def evaluate(self, q, bias, observables=True):
        return self.inner.evaluate(q, bias, observables)


def test_on_device_steps_equal_host_steps_bit_for_bit(trained):
    """Unrecorded steps use force_tensor (no host round trip): the trajectory is the one
    of the host path, bit for bit."""
    provider = load(trained["path"])
    q0 = DEFAULTS.checkerboard(8, 6)
    params = DEFAULTS.brownian()
    a = run_brownian(q0, provider, 1.0, params, n_steps=12, seed=3, stride=4)
    b = run_brownian(q0, HostOnly(provider), 1.0, params, n_steps=12, seed=3, stride=4)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.force, b.force)


@pytest.mark.gpu
def test_ml_dynamics_on_the_gpu_is_seeded_and_resumes_bit_for_bit(trained, tmp_path):
    from holstein.physics.dynamics import CheckpointPolicy

    provider = load(trained["path"], device="cuda")
    q0 = DEFAULTS.checkerboard(8, 6)
    params = DEFAULTS.brownian()
    a = run_brownian(q0, provider, 1.0, params, n_steps=40, seed=3, stride=4)
    b = run_brownian(q0, provider, 1.0, params, n_steps=40, seed=3, stride=4)
    np.testing.assert_array_equal(a.q, b.q)
    policy = CheckpointPolicy(tmp_path / "run.checkpoint.npz", 10, {"run": 1})
    run_brownian(q0, provider, 1.0, params, n_steps=20, seed=3, stride=4, checkpoint=policy)
    resumed = run_brownian(q0, provider, 1.0, params, n_steps=40, seed=3, stride=4,
                           checkpoint=policy)
    np.testing.assert_array_equal(resumed.q, a.q)
