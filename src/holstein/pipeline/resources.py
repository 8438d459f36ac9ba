"""Memory and time a pipeline job needs, estimated from the lattice size before it starts.

The workflow requests each job's ``mem_mb`` and ``runtime`` from these estimates (so a
scheduler reserves enough) and refuses, before any job runs, a lattice that cannot fit
in the host's memory or, for NEGF on a GPU, in the GPU's.
"""

from __future__ import annotations

import os


class MemoryEstimateError(ValueError):
    """A configured lattice needs more memory than the machine or allocation has."""


# Measured peak of one NEGF steady state (holstein.physics.negf): about 15 complex N x N matrices
# at N = 224 .. 2000 sites, on top of the interpreter with numpy, scipy and torch loaded.
NEGF_DENSE_MATRICES = 16
JOB_BASE_MB = 600


# One NEGF steady state on one CPU core costs about this x N^3 seconds: 2.9 s for the
# eigendecomposition plus the closed form at 40 x 30 = 1200 sites (benchmarks/
# negf_bound_states.py, a 2-core machine).  A job's runtime request is twice the
# estimate, and never below the default.
NEGF_SECONDS_PER_CUBIC_SITE = 2.2e-9
RUNTIME_SAFETY = 2.0
DEFAULT_RUNTIME_MIN = 120


def negf_gpu_mb(n_sites: int) -> int:
    """GPU memory of one NEGF steady state: the same complex128 N x N matrices as on the
    host (about 5.5 GB at 80 x 60, 50 GB at 120 x 120)."""
    return int(NEGF_DENSE_MATRICES * 16 * n_sites**2 / 2**20)


def negf_runtime_min(n_sites: int, n_steps: int) -> int:
    """Minutes to request for an NEGF Brownian job of ``n_steps`` steps on the CPU (one
    steady state per step): 40 x 30 for 3000 steps asks about 6 h, 80 x 30 about 50 h."""
    seconds = NEGF_SECONDS_PER_CUBIC_SITE * n_sites**3 * (n_steps + 1)
    return max(DEFAULT_RUNTIME_MIN, int(RUNTIME_SAFETY * seconds / 60) + 1)


def trajectory_mb(n_sites: int, n_frames: int, lattice_fields: int) -> float:
    """Recorded frames: float64 per site and field, held twice (frames and stacked array)."""
    return 2 * n_frames * lattice_fields * n_sites * 8 / 2**20


def negf_job_mb(n_sites: int, n_frames: int) -> int:
    """Memory of an NEGF Brownian job recording every lattice field (q, force, density,
    two bond currents)."""
    dense = NEGF_DENSE_MATRICES * 16 * n_sites**2 / 2**20
    return int(JOB_BASE_MB + dense + trajectory_mb(n_sites, n_frames, 5))


def ml_job_mb(n_sites: int, n_frames: int, channels: int, lattice_fields: int = 5) -> int:
    """Memory of an ML Brownian job: float32 activations (a few channels-wide layers
    alive at once, with padding) plus the recorded frames."""
    activations = 200 * channels / 16 * n_sites * 4 / 2**20
    return int(JOB_BASE_MB + activations + trajectory_mb(n_sites, n_frames, lattice_fields))


def physical_memory_mb() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)


def check_memory(label: str, estimate_mb: int, limit_mb: int | None, key: str,
                 gpu: bool = False) -> None:
    """Refuse a job whose memory estimate exceeds what the machine or --resources grant
    (``gpu``: what the GPU has)."""
    if limit_mb is None or estimate_mb <= limit_mb:
        return
    if gpu:
        raise MemoryEstimateError(
            f"{label} needs about {estimate_mb / 1024:.1f} GiB of GPU memory, more than the "
            f"{limit_mb / 1024:.1f} GiB of the smallest GPU here; reduce {key}, or set "
            "device: cpu (NEGF on the CPU is limited by host memory only)"
        )
    raise MemoryEstimateError(
        f"{label} needs about {estimate_mb / 1024:.1f} GiB, more than the "
        f"{limit_mb / 1024:.1f} GiB available (this machine, or --resources mem_mb); "
        f"reduce {key}, or run on a machine or partition with more memory and pass "
        "--resources mem_mb=<its memory in MB>"
    )
