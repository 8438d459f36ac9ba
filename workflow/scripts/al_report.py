"""Adapter: every iteration's metrics -> the active-learning summary and figure."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.al_report import active_learning_report

active_learning_report(list(sm.input), sm.output.summary, sm.output.figure)
