"""Reliability of long runs: kill-and-resume bit for bit, and the numerical guards."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from schema_defaults import DEFAULTS
from threadpoolctl import threadpool_limits

from holstein.data.io import read_trajectory
from holstein.physics.dynamics import CheckpointPolicy, NumericalError, run_brownian
from holstein.physics.forces import ElectronicResponse
from holstein.pipeline.runs import checkpoint_path
from holstein.stages.simulate_negf import negf_run

PHYSICS = DEFAULTS.physics
DYNAMICS = {**DEFAULTS.dynamics, "checkpoint_every": 25}
RUN = {"lattice": {"Lx": 10, "Ly": 8}, "physics": PHYSICS,
       "dynamics": DYNAMICS, "bias": 2.2, "seed": 7, "n_steps": 600, "stride": 5}


@pytest.mark.parametrize(
    "record, integrator",
    [(None, "euler-maruyama"), (("current",), "euler-maruyama"),
     (None, "leimkuhler-matthews")],
)
def test_killed_job_resumes_and_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path,
                                                                            record,
                                                                            integrator):
    # record=("current",): frames of q and the current only, as a large-lattice run keeps.
    # One BLAS thread here as in the killed child: bit for bit holds at one thread count.
    # Leimkuhler-Matthews: the pending noise is part of the checkpointed state.
    run = {**RUN, "dynamics": {**DYNAMICS, "integrator": integrator},
           **({"record": record} if record else {})}
    reference = tmp_path / "reference.parquet"
    with threadpool_limits(1):
        negf_run(reference, **run)
    assert not checkpoint_path(reference).exists()  # removed after success

    resumed = tmp_path / "resumed.parquet"
    code = ("from holstein.stages.simulate_negf import negf_run; "
            f"negf_run({str(resumed)!r}, **{run!r})")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    ckpt = checkpoint_path(resumed)
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ckpt.exists(), "the job finished or stalled before its first checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not resumed.exists(), "a killed job must not leave a file at the final path"

    with np.load(ckpt) as data:
        killed_at = len(data["frame_steps"])
    assert 0 < killed_at < 600 // 5 + 1  # it really stopped mid-way
    with threadpool_limits(1):
        negf_run(resumed, **run)
    a, meta_a = read_trajectory(reference)
    b, meta_b = read_trajectory(resumed)
    assert set(a) == set(b)
    if record:
        assert set(a) == {"step", "time", "bias", "seed", "q", "current"}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert not ckpt.exists()


def test_checkpoint_of_another_run_is_not_resumed(tmp_path):
    q0 = DEFAULTS.checkerboard(6, 6)
    params = DEFAULTS.brownian()
    zero = ZeroAfter(10**9)
    policy = CheckpointPolicy(tmp_path / "c.npz", 5, {"seed": 1})
    run_brownian(q0, zero, 0.0, params, 12, seed=1, checkpoint=policy)
    other = CheckpointPolicy(tmp_path / "c.npz", 5, {"seed": 2})
    fresh = run_brownian(q0, zero, 0.0, params, 12, seed=2)
    again = run_brownian(q0, zero, 0.0, params, 12, seed=2, checkpoint=other)
    np.testing.assert_array_equal(fresh.q, again.q)


class ZeroAfter:
    """Electronic force 0, but NaN on one site from a chosen step on."""

    def __init__(self, bad_step, site=(2, 3)):
        self.bad_step, self.site, self.calls = bad_step, site, 0

    def evaluate(self, q, bias, observables=True):
        force = np.zeros_like(q)
        if self.calls >= self.bad_step:
            force[self.site] = np.nan
        self.calls += 1
        return ElectronicResponse(force=force)

    def electronic_force(self, q, bias):
        return self.evaluate(q, bias).force


def test_nan_force_stops_the_run_naming_step_site_and_checkpoint(tmp_path):
    policy = CheckpointPolicy(tmp_path / "run.npz", 10, {"run": "nan"})
    with pytest.raises(NumericalError) as err:
        run_brownian(DEFAULTS.checkerboard(6, 6), ZeroAfter(23), 0.0, DEFAULTS.brownian(), 100,
                     seed=0, checkpoint=policy)
    message = str(err.value)
    assert "step 23" in message and "(2, 3)" in message
    assert "run.npz (step 20)" in message


def test_coordinate_beyond_bound_stops_the_run():
    q0 = DEFAULTS.checkerboard(6, 6)
    with pytest.raises(NumericalError, match=r"\|Q\| = .* > q_bound = 2"):
        run_brownian(q0, ZeroAfter(10**9), 0.0, DEFAULTS.brownian(temperature=5.0), 50,
                     seed=0, q_bound=2.0)
