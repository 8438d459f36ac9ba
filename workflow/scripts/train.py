"""Adapter: NEGF training shards -> trained ML force field, metrics, parity and loss plots."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.jobs import setup_job
from holstein.training import train_from_shards

setup_job(sm.log[0], sm.threads)
train_from_shards(
    list(sm.input),
    hyper=sm.params.hyper,
    checkpoint_path=sm.output.checkpoint,
    metrics_path=sm.output.metrics,
    parity_path=sm.output.parity,
    loss_path=sm.output.loss,
)
