"""Checks of the pipeline configuration that a JSON schema cannot express.

The schema (workflow/schemas/config.schema.yaml) fixes keys, types, ranges and
defaults; ``check_config`` adds the cross-key rules and names the key and the fix.
"""

from __future__ import annotations

import math

from holstein.ml.members import member_section
from holstein.ml.training.parameters import TrainingParameters
from holstein.physics.langevin import brownian_parameters
from holstein.physics.lattice import cdw_amplitude
from holstein.physics.locality import late_slice

# Largest lattice the relaxed start is computed for: about 100 + 6 Lx dense NEGF solves
# of O(sites^3) each (40 x 30: ~0.3 h on 2 cores; twice the sites: ~8x that).
RELAX_MAX_SITES = 2400

# |V| beyond this is not a bias of this model: the whole band (width 8 t plus the CDW
# splitting) lies inside a few units, and the current saturates long before.
MAX_ABS_BIAS = 50.0


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and the fix."""


def bias_label(bias: float) -> str:
    """File-name label of a bias: 2.5 -> '2.5', 3.0 -> '3'."""
    return f"{float(bias):g}"


def canonical_config(config: dict, schema: dict) -> dict:
    """The validated config in one canonical form: keys sorted, numbers as the schema types.

    Job parameters are compared by their text, so key order (a config written by a tool
    that sorts keys, or a default written out) and ``1`` against ``1.0`` would otherwise
    count as changes.
    """

    def walk(value, spec):
        kind = spec.get("type")
        if isinstance(value, dict):
            props = spec.get("properties", {})
            return {k: walk(value[k], props.get(k, {})) for k in sorted(value)}
        if isinstance(value, list):
            return [walk(v, spec.get("items", {})) for v in value]
        if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    return walk(config, schema)


def check_finite(value, where: str = "") -> None:
    """Every number in the config must be finite: NaN passes every range check."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} = {value}: every number in the config must be finite")


def check_config(config: dict) -> None:
    check_finite(config)
    physics, dynamics = config["physics"], config["dynamics"]
    train, valid, model = config["training_data"], config["validation"], config["model"]
    lattice = config["lattice"]

    try:
        cdw_amplitude(physics["g"], physics["K"], physics["kappa"])
        brownian_parameters(physics, dynamics)
    except ValueError as err:
        raise ConfigError(f"physics/dynamics: {err}") from err

    for section in ("training_data", "validation"):
        for bias in config[section]["biases"]:
            if abs(bias) > MAX_ABS_BIAS:
                raise ConfigError(
                    f"{section}.biases contains {bias}: |V| <= {MAX_ABS_BIAS:g} (the band and "
                    "the switching threshold lie within a few units of t); use a bias in range"
                )
        labels = [bias_label(b) for b in config[section]["biases"]]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{section}.biases has duplicates {labels}: list each bias once")

    listed = {bias_label(b) for b in valid["biases"]}
    stray = [b for b in valid["time_step_check"]["biases"] if bias_label(b) not in listed]
    if stray:
        raise ConfigError(
            f"validation.time_step_check.biases {stray} are not validation biases "
            f"{valid['biases']}: the time-step error is shown beside ML - NEGF at the same "
            "bias; list biases of validation.biases (or [] for no check)"
        )
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
    try:
        TrainingParameters.from_mapping(member_section(model, 0))
    except ValueError as err:
        raise ConfigError(f"model: {err}") from err
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
        _check_bulk("large_lattice", large["Lx"], lattice["Lx"], model["cutoff"])
        labels = [bias_label(b) for b in valid["biases"]]
        if bias_label(large["bias"]) not in labels:
            raise ConfigError(
                f"large_lattice.bias = {large['bias']} is not one of validation.biases "
                f"{labels}: its wall velocity is compared with the validation runs at the "
                "same bias; choose one of those"
            )
    _check_active_learning(config)
    _check_transfer(config)
    _check_locality(config)
    if len(train["seeds"]) * len(train["biases"]) < 2:
        raise ConfigError(
            "training_data needs at least two trajectories (biases x seeds) so that whole "
            "trajectories can be held out for validation"
        )


def _check_bulk(section: str, lx: int, training_lx: int, cutoff: int) -> None:
    """A lattice longer than the training one needs a model that has seen the bulk."""
    bulk = 2 * cutoff + 3
    if lx > training_lx and training_lx < bulk:
        raise ConfigError(
            f"{section}.Lx = {lx} needs a model that has seen the bulk, but "
            f"lattice.Lx = {training_lx} < 2 * model.cutoff + 3 = {bulk}: every training "
            "site is within reach of an electrode, and in a longer sample the model "
            "extrapolates (measured with a 14 x 14 model: the metal behind the wall "
            f"re-orders); enlarge lattice.Lx to >= {bulk} or reduce model.cutoff"
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


def _check_active_learning(config: dict) -> None:
    """The trust levels always (the large-lattice report uses them); the loop's settings
    when it runs."""
    al = config.get("active_learning")
    if not al:
        return
    if not al["trust_lo"] < al["trust_hi"]:
        raise ConfigError(
            f"active_learning.trust_lo = {al['trust_lo']} is not below trust_hi = "
            f"{al['trust_hi']}: frames between the two are labelled; give trust_lo < trust_hi")
    if not al["iterations"]:
        return
    members = config["model"]["committee"]
    if members < 2:
        raise ConfigError(
            f"active_learning.iterations = {al['iterations']} needs a committee deviation, "
            f"but model.committee = {members}; set model.committee to 2 or more (e.g. 4)")
    explore = al["explore"]
    lattice = config["lattice"]
    for entry in explore["lattices"]:
        if (entry["Lx"], entry["Ly"]) != (lattice["Lx"], lattice["Ly"]):
            raise ConfigError(
                f"active_learning.explore.lattices holds {entry['Lx']} x {entry['Ly']}, but "
                f"the committee trains on one lattice shape, lattice = {lattice['Lx']} x "
                f"{lattice['Ly']}: labels of another size cannot train it; list only the "
                "training lattice (or [] for it)")
    overlap = sorted(set(explore["seeds"]) & set(config["validation"]["seeds"]))
    if overlap:
        raise ConfigError(
            f"active_learning.explore.seeds and validation.seeds share {overlap}: the NEGF "
            "reference runs judge the loop and must stay independent of what it labels; "
            "choose disjoint seeds")
    labels = [bias_label(b) for b in explore["biases"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"active_learning.explore.biases has duplicates {labels}: list "
                          "each bias once")
    for bias in explore["biases"]:
        if abs(bias) > MAX_ABS_BIAS:
            raise ConfigError(f"active_learning.explore.biases contains {bias}: |V| <= "
                              f"{MAX_ABS_BIAS:g}; use a bias in range")



def _check_transfer(config: dict) -> None:
    """The transfer lattice is longer than the training one, and its runs are compared at
    biases where the training-size validation exists."""
    transfer = config.get("transfer")
    if not transfer or not transfer["enabled"]:
        return
    lattice, cutoff = config["lattice"], config["model"]["cutoff"]
    _check_lattice("transfer", transfer, cutoff)
    if transfer["Lx"] < 2 * lattice["Lx"]:
        raise ConfigError(
            f"transfer.Lx = {transfer['Lx']} < 2 * lattice.Lx = {2 * lattice['Lx']}: the "
            "transfer lattice must be at least twice as long as the training one to test "
            f"transfer; set transfer.Lx >= {2 * lattice['Lx']} (or transfer.enabled: false)")
    _check_bulk("transfer", transfer["Lx"], lattice["Lx"], cutoff)
    if transfer["Ly"] < lattice["Ly"]:
        raise ConfigError(
            f"transfer.Ly = {transfer['Ly']} < lattice.Ly = {lattice['Ly']}: the transfer "
            f"lattice must be at least as wide as the training one; set transfer.Ly >= "
            f"{lattice['Ly']}")
    valid = [bias_label(b) for b in config["validation"]["biases"]]
    missing = [bias_label(b) for b in transfer["biases"] if bias_label(b) not in valid]
    if missing:
        raise ConfigError(
            f"transfer.biases {missing} are not validation.biases {valid}: the transfer "
            "runs are read beside the training-size validation at the same bias; choose "
            "transfer.biases among validation.biases")
    overlap = sorted(set(transfer["seeds"]) & set(config["training_data"]["seeds"]))
    if overlap:
        raise ConfigError(
            f"transfer.seeds and training_data.seeds share {overlap}: the NEGF references "
            "must be independent of the training trajectories; choose disjoint seeds")
    sites = transfer["Lx"] * transfer["Ly"]
    if config["dynamics"]["initial"] == "relaxed" and sites > RELAX_MAX_SITES:
        raise ConfigError(
            f"dynamics.initial = relaxed relaxes the transfer lattice ({transfer['Lx']} x "
            f"{transfer['Ly']} = {sites} sites), beyond {RELAX_MAX_SITES} sites; set "
            "dynamics.initial: checkerboard, or a smaller transfer lattice")


def late_frames(n_steps: int, stride: int, skip_fraction: float) -> int:
    """Frames of a trajectory after its leading ``skip_fraction`` (the locality floor's)."""
    n_frames = n_steps // stride + 1
    return len(range(n_frames)[late_slice(n_frames, skip_fraction)])


def _check_locality(config: dict) -> None:
    """Every trajectory the floor is estimated on has frames ``min_separation`` apart."""
    locality = config.get("locality")
    if not locality:
        return
    sections = ["training_data"]
    if config.get("transfer", {}).get("enabled"):
        sections.append("transfer")
    for section in sections:
        late = late_frames(config[section]["n_steps"], config[section]["stride"],
                           locality["skip_fraction"])
        if late <= locality["min_separation"]:
            raise ConfigError(
                f"locality.min_separation = {locality['min_separation']} frames, but the "
                f"{section} trajectories keep {late} frames after locality.skip_fraction = "
                f"{locality['skip_fraction']}: no two frames are that far apart; lower "
                f"locality.min_separation below {late} (or skip_fraction)")
