"""Adapter: locality floors + the trained committee -> its force error beside the floor."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.locality_metrics import locality_metrics

locality_metrics(
    floor_groups={
        "training": list(sm.input.training_floors),
        "transfer": list(sm.input.transfer_floors),
    },
    model_paths=list(sm.input.model),
    shard_paths=list(sm.input.shards),
    hyper=sm.params.hyper,
    output=sm.output[0],
    predictor=sm.params.predictor,
)
