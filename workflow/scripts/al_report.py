"""Adapter: every iteration's metrics -> the active-learning summary and figure."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.active_learning import active_learning_report

active_learning_report(list(sm.input), sm.output.summary, sm.output.figure)
