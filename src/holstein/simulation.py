"""One Brownian run from the CDW start, written as a Parquet trajectory (NEGF or ML forces).

The pipeline's NEGF training shards, NEGF reference runs and ML runs all go through
``simulate``: only the force provider differs.  ``relax_job`` computes the relaxed start
(holstein.initial) once per lattice and physics.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from .device import compute_device, device_model, resolve_device
from .dynamics import CheckpointPolicy, run_brownian
from .forces import ForceProvider, NEGFForceProvider
from .initial import (
    DEFAULT_INITIAL,
    initial_configuration,
    relaxed_state,
    save_relaxed_state,
)
from .io import write_trajectory
from .langevin import brownian_parameters
from .lattice import PHYSICS_KEYS
from .records import OPTIONAL_FIELDS

log = logging.getLogger(__name__)


def negf_provider(physics: dict, method: str = "fast", device: str = "cpu") -> NEGFForceProvider:
    return NEGFForceProvider(
        t=physics["t"],
        g=physics["g"],
        gamma=physics["gamma"],
        temperature=physics["temperature"],
        bias_scheme=physics["bias_scheme"],
        method=method,
        device=device,
    )


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
) -> None:
    """Run from the configured start and write the trajectory to ``out_path``.

    ``dynamics`` may hold ``q_bound`` (stop if any |Q| exceeds it) and ``initial``
    (``checkerboard``, the default, or ``relaxed``: read from ``relaxed_path``, see
    holstein.initial).  With ``checkpoint`` the run resumes from a matching checkpoint;
    the checkpoint is removed once the trajectory is written.  ``record``: the fields
    besides q kept per frame (``dynamics.run_brownian``).
    """
    initial = dynamics.get("initial", DEFAULT_INITIAL)
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
        "seconds_per_step": traj.seconds_per_step,
        "peak_memory_mb": peak_memory_mb(),
    }
    write_trajectory(out_path, traj, meta)
    if checkpoint is not None:
        Path(checkpoint.path).unlink(missing_ok=True)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux: ru_maxrss in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_paths(model_path) -> list[str]:
    """The member checkpoints of an ML run: one path, or a sequence of them (a committee)."""
    if model_path is None:
        return []
    if isinstance(model_path, str | Path):
        return [str(model_path)]
    return [str(p) for p in model_path]


def make_provider(provider_name: str, physics: dict, method: str = "fast", model_path=None,
                  device: str = "cpu", predictor: str = "mean"):
    """The NEGF provider, or the trained ML provider checked against ``physics``, on the
    device the setting ``device`` ('auto', 'cpu', 'cuda') resolves to here.

    ``model_path``: one checkpoint, or the member checkpoints of a committee, driven by its
    ``predictor`` (``holstein.ml.committee``)."""
    device = resolve_device(device)
    if provider_name == "negf":
        return negf_provider(physics, method, device)
    if provider_name == "ml":
        from .ml.committee import load_committee

        paths = model_paths(model_path)
        if not paths:
            raise ValueError("an ML run needs the trained model checkpoint")
        return load_committee(paths, expect={k: physics[k] for k in PHYSICS_KEYS},
                              predictor=predictor, device=device)
    raise ValueError(f"provider={provider_name!r}: choose 'negf' or 'ml'")


def checkpoint_path(out_path) -> Path:
    return Path(f"{out_path}.checkpoint.npz")


def run_job(out_path, provider_name, lattice, physics, dynamics, bias, seed, n_steps, stride,
            method="fast", model_path=None, record=OPTIONAL_FIELDS, relaxed_path=None,
            device="cpu", predictor="mean") -> None:
    """Pipeline entry point: build the provider, then ``simulate`` with checkpoints.

    ``dynamics["checkpoint_every"]`` (steps; 0 or absent: off) sets the interval.  The
    checkpoint lives next to the output and is only resumed by the identical run
    (same provider, model file, start file, lattice, physics, dynamics, bias, seed, length).
    ``relaxed_path``: the relaxed start (``relax_job``) when ``dynamics["initial"]`` is
    ``relaxed``.  ``model_path``, ``predictor``: the model of an ML run (``make_provider``).
    """
    with compute_device(device) as device:
        provider = make_provider(provider_name, physics, method, model_path, device, predictor)
        every = int(dynamics.get("checkpoint_every") or 0)
        checkpoint = None
        if every > 0:
            fingerprint = {
                "provider": provider_name, "method": method, "lattice": dict(lattice),
                "physics": dict(physics), "dynamics": dict(dynamics), "bias": float(bias),
                "seed": int(seed), "n_steps": int(n_steps), "stride": int(stride),
                "record": sorted(record),
                # a resumed run repeats the interrupted one bit for bit only on the same
                # device model
                "device": device_model(device),
                "model_sha256": [_sha256(p) for p in model_paths(model_path)],
                "predictor": predictor if provider_name == "ml" else None,
                "relaxed_sha256": _sha256(relaxed_path),
            }
            checkpoint = CheckpointPolicy(checkpoint_path(out_path), every, fingerprint)
        simulate(out_path, provider, provider_name, lattice, physics, dynamics, bias, seed,
                 n_steps, stride, checkpoint, record, relaxed_path)


def _sha256(path) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def relax_job(out_path, lattice: dict, physics: dict, method: str = "fast") -> None:
    """Pipeline entry point: the relaxed V = 0 start of this lattice and physics, saved to
    ``out_path`` (holstein.initial.save_relaxed_state) with the exact NEGF force."""
    t0 = time.perf_counter()
    state = relaxed_state(lattice["Lx"], lattice["Ly"], physics, negf_provider(physics, method))
    log.info(
        "relaxed %dx%d in %.1f s (%d gradient-flow + %d Newton steps): residual %.2e, "
        "phi(x) from %.4f (electrode) to %.4f, softest symmetric stiffness %.3f",
        lattice["Lx"], lattice["Ly"], time.perf_counter() - t0, state.flow_steps,
        state.newton_steps, state.residual, state.profile[0], state.profile.max(),
        state.stiffness[0],
    )
    save_relaxed_state(out_path, state, physics, method)
