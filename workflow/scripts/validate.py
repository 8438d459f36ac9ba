"""Adapter: per-run analyses and benchmark files -> validation figures and metrics.json."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.jobs import setup_job
from holstein.validation import make_validation

setup_job(sm.log[0], sm.threads)
make_validation(
    summaries=list(sm.input.summaries),
    series=list(sm.input.series),
    benchmarks=list(sm.input.benchmarks),
    model_metrics=sm.input.model_metrics,
    n_steps=sm.params.n_steps,
    training_biases=sm.params.training_biases,
    outputs=dict(sm.output.items()),
    model_path=sm.input.model,
    negf_runs=list(sm.input.negf_runs),
)
