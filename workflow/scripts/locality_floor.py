"""Adapter: one NEGF trajectory -> its locality floor at the model's cutoff (JSON)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.locality_floor import write_trajectory_floor

p = sm.params
write_trajectory_floor(
    sm.input[0],
    sm.output[0],
    [p.radius],
    p.samples,
    skip_fraction=p.skip_fraction,
    min_separation=p.min_separation,
    seed=p.seed,
    method=p.method,
    device=p.device,
)
