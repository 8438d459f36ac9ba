"""Adapter: one NEGF trajectory -> its locality floor at the model's cutoff (JSON)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
import json

from holstein.atomic import write_text_atomic
from holstein.locality import trajectory_floor

p = sm.params
row = trajectory_floor(
    sm.input[0],
    [p.radius],
    p.samples,
    skip_fraction=p.skip_fraction,
    min_separation=p.min_separation,
    seed=p.seed,
    method=p.method,
    device=p.device,
)
write_text_atomic(sm.output[0], json.dumps(row, indent=2))
