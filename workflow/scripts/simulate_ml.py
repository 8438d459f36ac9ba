"""Adapter: one Brownian run driven by the committee of force fields -> Parquet trajectory."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.simulate_ml import ml_run

p = sm.params
ml_run(
    sm.output[0],
    list(sm.input.model),
    p.lattice,
    p.physics,
    p.dynamics,
    bias=p.bias,
    seed=int(p.seed),
    n_steps=p.n_steps,
    stride=p.stride,
    predictor=p.predictor,
    device=p.device,
    relaxed_path=getattr(sm.input, "initial", None) or None,
    cost_path=sm.output.cost,
    **({"record": tuple(p.record)} if hasattr(p, "record") else {}),
)
