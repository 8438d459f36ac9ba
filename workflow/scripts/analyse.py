"""Adapter: one trajectory -> order parameter, wall position, current against time."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.analyse import analyse_run

analyse_run(sm.input[0], sm.output.series, sm.output.summary)
