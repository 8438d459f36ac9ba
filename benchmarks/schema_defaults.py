"""The pipeline schema's defaults for the benchmarks (``holstein.pipeline.defaults``).

A benchmark measures the default physics unless its arguments say otherwise; the
schema (workflow/schemas/config.schema.yaml) is the one place those defaults live.
"""

import copy
from pathlib import Path

import yaml

from holstein.pipeline.defaults import ConfigDefaults

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULTS = ConfigDefaults.read(SCHEMA)


def _merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (_merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else copy.deepcopy(value))
    return out


def configured(paths=()) -> dict:
    """The schema's defaults with the config files ``paths`` merged over them in order,
    key by key at every depth, as ``snakemake --configfile`` merges them."""
    config = DEFAULTS.config
    for path in paths:
        config = _merged(config, yaml.safe_load(Path(path).read_text()) or {})
    return copy.deepcopy(config)
