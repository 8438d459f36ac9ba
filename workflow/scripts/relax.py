"""Adapter: the relaxed V = 0 start of one lattice -> .npz (holstein.physics.initial)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.relax import relax_job

p = sm.params
relax_job(sm.output[0], p.lattice, p.physics, p.method)
