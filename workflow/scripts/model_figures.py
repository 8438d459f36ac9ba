"""Adapter: training metrics and parity table -> parity and loss figures."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.model_figures import make_model_figures

make_model_figures(
    metrics_path=sm.input.metrics,
    parity_path=sm.input.parity,
    parity_figure=sm.output.parity,
    loss_figure=sm.output.loss,
    lattice=sm.params.lattice,
    physics=sm.params.physics,
)
