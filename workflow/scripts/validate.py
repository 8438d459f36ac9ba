"""Adapter: per-run analyses, benchmark files, model metrics and the model's errors on the
NEGF reference runs -> validation figures, tables and metrics.json."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.validate import make_validation

make_validation(
    summaries=list(sm.input.summaries),
    series=list(sm.input.series),
    benchmarks=list(sm.input.benchmarks),
    run_costs=list(sm.input.run_costs),
    model_metrics=sm.input.model_metrics,
    reference_errors=sm.input.reference_errors,
    n_steps=sm.params.n_steps,
    training_biases=sm.params.training_biases,
    outputs=dict(sm.output.items()),
    lattice=sm.params.lattice,
    physics=sm.params.physics,
    dynamics=sm.params.dynamics,
    margin=sm.params.margin,
    time_step_summaries=list(sm.input.time_step_summaries),
    trust=(sm.params.trust_statistic, sm.params.trust_lo, sm.params.trust_hi),
)
