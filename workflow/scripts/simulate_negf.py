"""Adapter: one Brownian run with NEGF forces -> Parquet trajectory."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.simulate_negf import negf_run

p = sm.params
negf_run(
    sm.output[0],
    p.lattice,
    p.physics,
    p.dynamics,
    bias=p.bias,
    seed=int(p.seed),
    n_steps=p.n_steps,
    stride=p.stride,
    method=p.method,
    device=p.device,
    relaxed_path=getattr(sm.input, "initial", None) or None,
    cost_path=sm.output.cost,
    **({"record": tuple(p.record)} if hasattr(p, "record") else {}),
)
