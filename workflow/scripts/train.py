"""Adapter: NEGF training shards -> trained ML force field, metrics, parity table."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.train import train_from_shards

train_from_shards(
    list(sm.input.shards),
    hyper=sm.params.hyper,
    checkpoint_path=sm.output.checkpoint,
    metrics_path=sm.output.metrics,
    parity_path=sm.output.parity,
    cost_path=sm.output.cost,
    device=sm.params.device,
    init_checkpoint=sm.input.get("init") or None,  # [] when trained from scratch
)
