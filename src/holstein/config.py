"""Checks of the pipeline configuration that a JSON schema cannot express.

The schema (workflow/schemas/config.schema.yaml) fixes keys, types, ranges and
defaults; ``check_config`` adds the cross-key rules and names the key and the fix.
"""

from __future__ import annotations

from .lattice import cdw_amplitude
from .simulation import brownian_parameters

# Largest lattice the relaxed start is computed for: about 100 + 6 Lx dense NEGF solves
# of O(sites^3) each (40 x 30: ~0.3 h on 2 cores; twice the sites: ~8x that).
RELAX_MAX_SITES = 2400


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and the fix."""


def bias_label(bias: float) -> str:
    """File-name label of a bias: 2.5 -> '2.5', 3.0 -> '3'."""
    return f"{float(bias):g}"


def check_config(config: dict) -> None:
    physics, dynamics = config["physics"], config["dynamics"]
    train, valid, model = config["training_data"], config["validation"], config["model"]
    lattice = config["lattice"]

    try:
        cdw_amplitude(physics["g"], physics["K"], physics["kappa"])
        brownian_parameters(physics, dynamics)
    except ValueError as err:
        raise ConfigError(f"physics/dynamics: {err}") from err

    for section in ("training_data", "validation"):
        labels = [bias_label(b) for b in config[section]["biases"]]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{section}.biases has duplicates {labels}: list each bias once")

    overlap = sorted(set(train["seeds"]) & set(valid["seeds"]))
    if overlap:
        raise ConfigError(
            f"validation.seeds and training_data.seeds share {overlap}: reference runs must "
            "be independent of the training trajectories; choose disjoint seeds"
        )
    trained = {bias_label(b) for b in train["biases"]}
    unseen = [b for b in valid["biases"] if bias_label(b) not in trained]
    if valid["require_interpolation"] and not unseen:
        raise ConfigError(
            "validation.biases are all training biases, but validation.require_interpolation "
            "is true: add a validation bias between training biases (or set it to false)"
        )
    _check_lattice("lattice", lattice, model["cutoff"])
    large = config.get("large_lattice", {})
    if large.get("enabled"):
        _check_lattice("large_lattice", large, model["cutoff"])
        sites = large["Lx"] * large["Ly"]
        if dynamics["initial"] == "relaxed" and sites > RELAX_MAX_SITES:
            raise ConfigError(
                "dynamics.initial = relaxed relaxes every lattice that runs with the exact "
                f"NEGF force, and the large_lattice ({large['Lx']} x {large['Ly']} = {sites} "
                f"sites) is beyond it (at most {RELAX_MAX_SITES} sites: the relaxation needs "
                "a few hundred dense NEGF solves); set dynamics.initial: checkerboard, or "
                "large_lattice.enabled: false"
            )
        bulk = 2 * model["cutoff"] + 3
        if large["Lx"] > lattice["Lx"] and lattice["Lx"] < bulk:
            raise ConfigError(
                f"large_lattice.Lx = {large['Lx']} needs a model that has seen the bulk, but "
                f"lattice.Lx = {lattice['Lx']} < 2 * model.cutoff + 3 = {bulk}: every training "
                "site is within reach of an electrode, and in a longer sample the model "
                "extrapolates (measured with a 14 x 14 model: the metal behind the wall "
                f"re-orders); enlarge lattice.Lx to >= {bulk} or reduce model.cutoff"
            )
        labels = [bias_label(b) for b in valid["biases"]]
        if bias_label(large["bias"]) not in labels:
            raise ConfigError(
                f"large_lattice.bias = {large['bias']} is not one of validation.biases "
                f"{labels}: its wall velocity is compared with the validation runs at the "
                "same bias; choose one of those"
            )
    if len(train["seeds"]) * len(train["biases"]) < 2:
        raise ConfigError(
            "training_data needs at least two trajectories (biases x seeds) so that whole "
            "trajectories can be held out for validation"
        )


def _check_lattice(section: str, lattice: dict, cutoff: int) -> None:
    if lattice["Lx"] < 2 * cutoff:
        raise ConfigError(
            f"{section}.Lx = {lattice['Lx']} is shorter than twice model.cutoff = {cutoff}: "
            f"every site would see both electrodes; enlarge {section}.Lx or reduce "
            "model.cutoff"
        )
    if lattice["Ly"] < 2 * cutoff + 1:
        raise ConfigError(
            f"{section}.Ly = {lattice['Ly']} < 2 * model.cutoff + 1 = {2 * cutoff + 1}: the "
            "periodic neighbourhood would wrap onto itself and the model would not transfer "
            f"to other lattices; enlarge {section}.Ly or reduce model.cutoff"
        )
