"""Stage: one Brownian run with exact NEGF forces (a training shard or a reference run)."""

from __future__ import annotations

from holstein.data.records import OPTIONAL_FIELDS
from holstein.device import compute_device
from holstein.physics.forces import negf_provider
from holstein.pipeline.runs import run_job


def negf_run(out_path, lattice, physics, dynamics, bias, seed, n_steps, stride,
             method="fast", record=OPTIONAL_FIELDS, relaxed_path=None, cost_path=None,
             device="cpu") -> None:
    """The NEGF run of ``pipeline.runs.run_job``, solved with ``method`` on the device the
    job was planned on."""
    with compute_device(device) as device:
        run_job(out_path, negf_provider(physics, method, device), "negf", lattice, physics,
                dynamics, bias, seed, n_steps, stride, device, record, relaxed_path,
                identity={"method": method}, cost_path=cost_path)
