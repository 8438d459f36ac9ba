"""Adapter: one shard of the selected frames -> their exact NEGF labels (a training shard)."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.al_label import label_frames

p = sm.params
label_frames(sm.input[0], p.shard, p.n_shards, p.physics, p.method, sm.output[0],
             device=p.device)
