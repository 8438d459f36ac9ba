"""Plumbing of the pipeline's jobs: configuration checks, resource estimates, code
fingerprints, job set-up and the run driver.  Knows nothing of Snakemake itself."""
