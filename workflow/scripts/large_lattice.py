"""Adapter: large-lattice ML run + validation analyses -> figure and metrics.json."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.jobs import setup_job
from holstein.large_lattice import large_lattice_report

setup_job(sm.log[0], sm.threads)
large_lattice_report(
    trajectory_path=sm.input.trajectory,
    series_path=sm.input.series,
    summary_path=sm.input.summary,
    benchmark_path=sm.input.benchmark,
    reference_summaries=list(sm.input.reference_summaries),
    reference_series=list(sm.input.reference_series),
    outputs=dict(sm.output.items()),
)
