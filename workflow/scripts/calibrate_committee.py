"""Adapter: the committee + its reference errors -> the calibrated committee file."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.calibrate_committee import calibrate_committee

calibrate_committee(
    model_paths=list(sm.input.model),
    reference_errors_path=sm.input.reference_errors,
    output=sm.output[0],
    predictor=sm.params.predictor,
    trust_statistic=sm.params.trust_statistic,
)
