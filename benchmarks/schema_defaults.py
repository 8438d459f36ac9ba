"""The pipeline schema's defaults for the benchmarks (``holstein.pipeline.defaults``).

A benchmark measures the default physics unless its arguments say otherwise; the
schema (workflow/schemas/config.schema.yaml) is the one place those defaults live.
"""

from pathlib import Path

from holstein.pipeline.defaults import ConfigDefaults

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULTS = ConfigDefaults.read(SCHEMA)
