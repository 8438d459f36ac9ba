"""One Brownian run as a pipeline job: its start, its checkpoints, its trajectory file.

The pipeline's NEGF training shards, NEGF reference runs and ML runs all go through
``run_job`` (stages ``simulate_negf`` and ``simulate_ml``): only the force provider
differs, and it is built by the stage, so that an NEGF job never imports the force field.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from holstein.data.atomic import file_sha256, write_text_atomic
from holstein.data.io import write_trajectory
from holstein.data.records import OPTIONAL_FIELDS
from holstein.device import device_model
from holstein.physics.dynamics import CheckpointPolicy, run_brownian
from holstein.physics.forces import ForceProvider
from holstein.physics.initial import initial_configuration
from holstein.physics.langevin import brownian_parameters
from holstein.physics.lattice import PHYSICS_KEYS

log = logging.getLogger(__name__)


def simulate(
    out_path,
    provider: ForceProvider,
    provider_name: str,
    lattice: dict,
    physics: dict,
    dynamics: dict,
    bias: float,
    seed: int,
    n_steps: int,
    stride: int,
    checkpoint: CheckpointPolicy | None = None,
    record: tuple[str, ...] = OPTIONAL_FIELDS,
    relaxed_path=None,
    cost_path=None,
    identity: dict | None = None,
) -> None:
    """Run from the configured start and write the trajectory to ``out_path``.

    ``dynamics`` may hold ``q_bound`` (stop if any |Q| exceeds it) and ``initial``
    (``checkerboard``, the default, or ``relaxed``: read from ``relaxed_path``, see
    holstein.physics.initial).  With ``checkpoint`` the run resumes from a matching
    checkpoint; the checkpoint is removed once the trajectory is written.  ``record``: the
    fields besides q kept per frame (``dynamics.run_brownian``).  ``cost_path``: where the
    run's measurements of the machine go (JSON: seconds per step of the integration loop,
    peak memory), kept out of the trajectory so that a re-run writes the same file.
    ``identity``: what else defines the provider (the NEGF method; the member checkpoints'
    sha256 and the predictor), kept in the metadata as ``provider_identity`` so that a
    reader can tell which committee drove the run.
    """
    initial = dynamics["initial"]
    q0 = initial_configuration(lattice, physics, initial, relaxed_path)
    params = brownian_parameters(physics, dynamics)
    log.info(
        "%s run: %dx%d lattice, %s start, %s, bias %g, seed %d, %d steps (record every %d)",
        provider_name, lattice["Lx"], lattice["Ly"], initial, params.integrator, bias, seed,
        n_steps, stride,
    )
    t0 = time.perf_counter()
    traj = run_brownian(q0, provider, bias, params, n_steps, seed, stride=stride,
                        checkpoint=checkpoint, q_bound=dynamics.get("q_bound"),
                        record=tuple(record))
    log.info("done in %.1f s (%.4f s/step)", time.perf_counter() - t0, traj.seconds_per_step)
    meta = {
        "bias": float(bias),
        "seed": int(seed),
        "provider": provider_name,
        "physics": {k: physics[k] for k in PHYSICS_KEYS},
        "dynamics": dict(dynamics),
        "n_steps": int(n_steps),
        "stride": int(stride),
    }
    if identity:
        meta["provider_identity"] = dict(identity)
    write_trajectory(out_path, traj, meta)
    if cost_path is not None:
        cost = {"seconds_per_step": traj.seconds_per_step, "peak_memory_mb": peak_memory_mb(),
                "n_steps": int(n_steps), "lattice": [lattice["Lx"], lattice["Ly"]]}
        write_text_atomic(cost_path, json.dumps(cost, indent=2))
    if checkpoint is not None:
        Path(checkpoint.path).unlink(missing_ok=True)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux: ru_maxrss in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checkpoint_path(out_path) -> Path:
    return Path(f"{out_path}.checkpoint.npz")


def run_job(out_path, provider: ForceProvider, provider_name: str, lattice, physics, dynamics,
            bias, seed, n_steps, stride, device: str, record=OPTIONAL_FIELDS,
            relaxed_path=None, identity: dict | None = None, cost_path=None) -> None:
    """``simulate`` with checkpoints, for a provider built on the resolved ``device``.

    ``dynamics["checkpoint_every"]`` (steps; 0 or absent: off) sets the interval.  The
    checkpoint lives next to the output and is only resumed by the identical run: same
    provider, start file, lattice, physics, dynamics, bias, seed, length, device model, and
    ``identity`` (what else defines the provider: the NEGF method, the model files).
    ``relaxed_path``: the relaxed start (stage ``relax``) when ``dynamics["initial"]`` is
    ``relaxed``.  ``cost_path``: see ``simulate``.
    """
    every = int(dynamics.get("checkpoint_every") or 0)
    checkpoint = None
    if every > 0:
        fingerprint = {
            "provider": provider_name, "lattice": dict(lattice),
            "physics": dict(physics), "dynamics": dict(dynamics), "bias": float(bias),
            "seed": int(seed), "n_steps": int(n_steps), "stride": int(stride),
            "record": sorted(record),
            # a resumed run repeats the interrupted one bit for bit only on the same
            # device model
            "device": device_model(device),
            "relaxed_sha256": file_sha256(relaxed_path),
            **(identity or {}),
        }
        checkpoint = CheckpointPolicy(checkpoint_path(out_path), every, fingerprint)
    simulate(out_path, provider, provider_name, lattice, physics, dynamics, bias, seed,
             n_steps, stride, checkpoint, record, relaxed_path, cost_path, identity)
