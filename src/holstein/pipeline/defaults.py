"""The config schema's defaults, for code that runs outside the pipeline.

The package takes no default for a configured key: the schema
(workflow/schemas/config.schema.yaml) is its one place.  Benchmarks, tests and scripts
read the defaults here, from the schema file they name, and build the physics objects
from them with the overrides they study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from holstein.physics.forces import NEGFForceProvider
from holstein.physics.langevin import BrownianParameters
from holstein.physics.lattice import checkerboard
from holstein.physics.negf import SteadyState, steady_state

SOLVER_PHYSICS = ("t", "g", "gamma", "temperature", "bias_scheme")


def schema_defaults(schema: dict) -> dict:
    """Nested ``{key: default}`` of a JSON schema's properties: an object with properties
    gives the dict of its keys' defaults (as validation with defaults fills it)."""
    out = {}
    for key, spec in schema.get("properties", {}).items():
        if spec.get("type") == "object" and "properties" in spec:
            out[key] = {**spec.get("default", {}), **schema_defaults(spec)}
        elif "default" in spec:
            out[key] = spec["default"]
    return out


@dataclass(frozen=True)
class ConfigDefaults:
    """The default config (``schema_defaults`` of the schema) and the physics it means."""

    config: dict

    @classmethod
    def read(cls, schema_path: str | Path) -> ConfigDefaults:
        return cls(schema_defaults(yaml.safe_load(Path(schema_path).read_text())))

    @property
    def physics(self) -> dict:
        return dict(self.config["physics"])

    @property
    def dynamics(self) -> dict:
        return dict(self.config["dynamics"])

    @property
    def negf_method(self) -> str:
        return self.config["negf"]["method"]

    @property
    def solver_keywords(self) -> dict:
        """The keywords of ``steady_state`` beyond q and the bias: physics and method."""
        physics = self.physics
        return {**{k: physics[k] for k in SOLVER_PHYSICS}, "method": self.negf_method}

    def negf_provider(self, **overrides) -> NEGFForceProvider:
        """Exact NEGF forces of the default physics and method, with ``overrides``."""
        return NEGFForceProvider(**{**self.solver_keywords, **overrides})

    def steady_state(self, q: np.ndarray, bias: float, **overrides) -> SteadyState:
        """``steady_state`` of the default physics and method, with ``overrides``."""
        return steady_state(q, bias, **{**self.solver_keywords, **overrides})

    def brownian(self, **overrides) -> BrownianParameters:
        """The default Langevin parameters, with ``overrides``."""
        physics, dynamics = self.physics, self.dynamics
        return BrownianParameters(**{
            "K": physics["K"], "kappa": physics["kappa"],
            "temperature": physics["temperature"], "damping": dynamics["damping"],
            "dt": dynamics["dt"], "integrator": dynamics["integrator"], **overrides})

    def checkerboard(self, lx: int, ly: int) -> np.ndarray:
        """The perfect CDW of the default ``g``, ``K`` and ``kappa``."""
        physics = self.physics
        return checkerboard(lx, ly, physics["g"], physics["K"], physics["kappa"])
