"""Adapter: one Brownian run (NEGF forces, or an ML committee's) -> Parquet trajectory."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.simulation import run_job

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
    device=p.device,
    model_path=getattr(sm.input, "model", None) or None,
    relaxed_path=getattr(sm.input, "initial", None) or None,
    **({"record": tuple(p.record)} if hasattr(p, "record") else {}),
    **({"predictor": p.predictor} if getattr(p, "predictor", None) else {}),
)
