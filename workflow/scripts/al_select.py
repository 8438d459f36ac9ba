"""Adapter: one iteration's exploration runs -> the frames to label and the class counts."""

sm = snakemake  # noqa: F821 (injected by Snakemake); the workflow puts src/ on PYTHONPATH

from holstein.pipeline.jobs import setup_job

setup_job(sm.log[0], sm.threads)  # first: errors of the imports below reach the log
from holstein.stages.al_select import select_frames

p = sm.params
select_frames(list(sm.input), p.trust_statistic, p.trust_lo, p.trust_hi, p.frames, p.seed,
              p.selection, sm.output.selected, sm.output.stats)
