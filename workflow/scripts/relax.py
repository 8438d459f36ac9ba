"""Adapter: the relaxed V = 0 start of one lattice -> .npz (holstein.initial)."""

import sys
from pathlib import Path

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.path.insert(0, str(Path(sm.scriptdir).parents[1] / "src"))  # this checkout's package

from holstein.jobs import setup_job
from holstein.simulation import relax_job

setup_job(sm.log[0], sm.threads)
p = sm.params
relax_job(sm.output[0], p.lattice, p.physics, p.method)
