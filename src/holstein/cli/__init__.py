"""Command-line programs outside the pipeline, on top of every layer (``holstein-regimes``)."""
