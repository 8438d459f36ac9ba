"""The package's layers: no module imports against the layer order, and every adapter of the
workflow imports exactly one stage module (so a job's code fingerprint is its imports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from holstein.pipeline.fingerprint import imported_modules, package_root

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = package_root()

# Each layer and the layers it may import (itself included).  Core concepts at the top of
# the package (the version, the device setting) are importable from everywhere.
CORE = {"core"}
ALLOWED = {
    "core": CORE,
    "data": CORE | {"data"},
    "physics": CORE | {"data", "physics"},
    "report": CORE | {"data", "report"},
    "ml": CORE | {"data", "physics", "ml"},
    "ml.training": CORE | {"data", "physics", "ml", "ml.training"},
    "pipeline": CORE | {"data", "physics", "ml", "ml.training", "pipeline"},
    "stages": CORE | {"data", "physics", "report", "ml", "ml.training", "pipeline"},
    "cli": CORE | {"data", "physics", "report", "ml", "ml.training", "pipeline", "stages",
                   "cli"},
}
# A stage module is one pipeline step: it may not run another step's code.
STAGE = "holstein.stages"


def layer(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts or parts == ["device"]:
        return "core"
    if parts[:2] == ["ml", "training"]:
        return "ml.training"
    if parts[0] not in ALLOWED:
        raise AssertionError(f"{module}: in no layer; add its sub-package to ALLOWED")
    return parts[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        found[".".join(relative.parts).removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports_of(module: str) -> set[str]:
    found = imported_modules(MODULES[module].read_text(), module, PACKAGE)
    # importing holstein.x.y runs holstein/__init__ and holstein/x/__init__: packages
    # themselves carry no code (checked below), so only the named modules count
    return {m for m in found if not MODULES[m].name == "__init__.py"} - {module}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_against_the_layer_order(module):
    own = layer(module)
    upward = {m for m in imports_of(module) if layer(m) not in ALLOWED[own]}
    assert not upward, f"{module} ({own}) imports {sorted(upward)} from a layer above it"
    if own == "stages":
        other_stages = {m for m in imports_of(module) if m.startswith(STAGE + ".")}
        assert not other_stages, f"{module} runs another step's code: {sorted(other_stages)}"


def test_sub_packages_carry_no_code():
    """A package's __init__ is a docstring (and the version): importing one module of a
    layer loads that module only, so fingerprints and import costs stay per module."""
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            assert not imported_modules(path.read_text(), module, PACKAGE), module


ADAPTERS = sorted((ROOT / "workflow" / "scripts").glob("*.py"))


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda p: p.name)
def test_an_adapter_imports_its_stage_and_the_job_set_up_only(adapter):
    found = imported_modules(adapter.read_text(), None, PACKAGE)
    named = {m for m in found if MODULES[m].name != "__init__.py"}
    stages = {m for m in named if m.startswith(STAGE + ".")}
    assert stages == {f"{STAGE}.{adapter.stem}"}, (
        f"{adapter.name} imports stages {sorted(stages)}: need exactly its own, "
        f"{STAGE}.{adapter.stem}")
    assert named - stages == {"holstein.pipeline.jobs"}, (
        f"{adapter.name} imports {sorted(named - stages)} besides its stage")


def test_every_stage_module_is_a_pipeline_step():
    used = set()
    for adapter in ADAPTERS:
        used |= {m for m in imported_modules(adapter.read_text(), None, PACKAGE)
                 if m.startswith(STAGE + ".")}
    stages = {m for m in MODULES if m.startswith(STAGE + ".")}
    assert stages == used, f"stage modules without an adapter: {sorted(stages - used)}"


def test_a_layer_violation_is_found(tmp_path):
    """The check itself: a physics module that imports the force field fails it."""
    source = "from holstein.ml.model import LocalForceField\n"
    found = imported_modules(source, "holstein.physics.negf", PACKAGE)
    assert "holstein.ml.model" in found
    assert layer("holstein.ml.model") not in ALLOWED[layer("holstein.physics.negf")]
