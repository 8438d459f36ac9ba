"""Adapter: large-lattice ML run + validation analyses -> figures, metrics.json, cost.json."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.large_lattice import large_lattice_report

large_lattice_report(
    trajectory_path=sm.input.trajectory,
    series_path=sm.input.series,
    summary_path=sm.input.summary,
    cost_path=sm.input.cost,
    benchmark_path=sm.input.benchmark,
    reference_summaries=list(sm.input.reference_summaries),
    reference_series=list(sm.input.reference_series),
    reference_costs=list(sm.input.reference_costs),
    committee_path=sm.input.committee,
    outputs=dict(sm.output.items()),
    trust_statistic=sm.params.trust_statistic,
    trust_lo=sm.params.trust_lo,
    trust_hi=sm.params.trust_hi,
)
