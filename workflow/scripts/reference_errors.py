"""Adapter: the trained committee + NEGF reference runs -> its errors on them (JSON)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.reference_errors import reference_errors

reference_errors(
    model_paths=list(sm.input.model),
    shard_paths=list(sm.input.shards),
    hyper=sm.params.hyper,
    negf_runs=list(sm.input.negf_runs),
    negf_summaries=list(sm.input.negf_summaries),
    output=sm.output[0],
    predictor=sm.params.predictor,
    trust_statistic=sm.params.trust_statistic,
    calibration_source=sm.input.get("calibration"),
)
