"""Adapter: one iteration's committee, labels and selection -> its metrics (JSON)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.al_metrics import iteration_metrics

iteration_metrics(
    iteration=sm.params.iteration,
    model_paths=list(sm.input.model),
    predictor=sm.params.predictor,
    trust_statistic=sm.params.trust_statistic,
    training_shards=list(sm.input.shards),
    label_shards=list(sm.input.labels),
    new_labels=list(sm.input.new_labels),
    selection_stats=sm.input.selection if sm.params.iteration else None,
    negf_runs=list(sm.input.negf_runs),
    output=sm.output[0],
)
