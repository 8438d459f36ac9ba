"""Adapter: one trajectory -> order parameter, wall position, current against time."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.analysis import analyse_run
from holstein.jobs import setup_job

setup_job(sm.log[0], sm.threads)
analyse_run(sm.input[0], sm.output.series, sm.output.summary)
