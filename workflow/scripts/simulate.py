"""Adapter: one Brownian run (NEGF or ML forces) -> Parquet trajectory."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.jobs import setup_job
from holstein.simulation import run_job

setup_job(sm.log[0], sm.threads)
p = sm.params
run_job(
    sm.output[0],
    p.provider,
    p.lattice,
    p.physics,
    p.dynamics,
    bias=p.bias,
    seed=int(p.seed),
    n_steps=p.n_steps,
    stride=p.stride,
    method=p.method,
    model_path=getattr(sm.input, "model", None) or None,
    relaxed_path=getattr(sm.input, "initial", None) or None,
    **({"record": tuple(p.record)} if hasattr(p, "record") else {}),
)
