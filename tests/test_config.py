"""Configuration: the JSON schema (keys, types, ranges, defaults) and the cross-key checks."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from holstein.pipeline.config import ConfigError, bias_label, canonical_config, check_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def validated(config):
    config = copy.deepcopy(config)
    validate(config, SCHEMA, set_default=True)
    return config


@pytest.fixture()
def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid_and_equals_the_schema_defaults(default_config):
    config = validated(default_config)
    check_config(config)
    assert config == validated({}), "config.yaml and the schema defaults must agree"


def test_empty_config_gets_every_default():
    config = validated({})
    check_config(config)
    assert config["model"]["cutoff"] == 6 and config["physics"]["bias_scheme"] == "gated"


def test_every_schema_property_has_a_description_and_default():
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    for section, spec in schema["properties"].items():
        assert "description" in spec and "default" in spec, section
        for key, prop in spec.get("properties", {}).items():
            assert "description" in prop and "default" in prop, f"{section}.{key}"


@pytest.mark.parametrize(
    "patch, word",
    [
        ({"physics": {"gama": 1.0}}, "gama"),  # unknown key (typo)
        ({"lattice": {"Lx": "sixteen"}}, "sixteen"),  # wrong type
        ({"physics": {"gamma": 0.0}}, "gamma"),
        ({"physics": {"temperature": -0.1}}, "temperature"),
        ({"dynamics": {"dt": 0}}, "dt"),
        ({"dynamics": {"damping": -1}}, "damping"),
        ({"training_data": {"biases": []}}, "biases"),
        ({"validation": {"biases": [2.0, 2.0]}}, "biases"),
        ({"lattice": {"Ly": 15}}, "Ly"),  # odd Ly frustrates the checkerboard
        ({"physics": {"bias_scheme": "floating"}}, "bias_scheme"),
        ({"dynamics": {"integrator": "verlet"}}, "verlet"),
        ({"dynamics": {"initial": "random"}}, "random"),
    ],
)
def test_schema_rejects_bad_values_naming_them(patch, word):
    config = {}
    for section, values in patch.items():
        config[section] = values
    with pytest.raises(WorkflowError) as err:
        validated(config)
    assert word in str(err.value)


def test_overlapping_seeds_are_rejected(default_config):
    config = validated(default_config)
    config["validation"]["seeds"] = [config["training_data"]["seeds"][0], 999]
    with pytest.raises(ConfigError, match="disjoint seeds"):
        check_config(config)


def test_a_time_step_check_off_the_validation_biases_is_rejected(default_config):
    config = validated(default_config)
    config["validation"]["time_step_check"]["biases"] = [2.9]
    with pytest.raises(ConfigError, match="time_step_check.biases"):
        check_config(config)
    config["validation"]["time_step_check"]["biases"] = []  # no check
    check_config(config)


def test_validation_without_unseen_bias_is_rejected_when_interpolation_is_required():
    config = validated({"training_data": {"biases": [2.0, 3.0]},
                        "validation": {"biases": [2.0, 3.0], "time_step_check": {"biases": []}},
                        "transfer": {"biases": [2.0]}})
    with pytest.raises(ConfigError, match="require_interpolation"):
        check_config(config)
    config["validation"]["require_interpolation"] = False
    check_config(config)


def test_duplicate_biases_after_formatting_are_rejected():
    config = validated({"training_data": {"biases": [2.0, 2.0000000001]}})
    with pytest.raises(ConfigError, match="duplicates"):
        check_config(config)


def test_lattice_shorter_than_twice_the_cutoff_is_rejected():
    config = validated({"lattice": {"Lx": 10}, "model": {"cutoff": 6}})
    with pytest.raises(ConfigError, match="lattice.Lx"):
        check_config(config)
    config = validated({"lattice": {"Ly": 12}, "model": {"cutoff": 6}})
    with pytest.raises(ConfigError, match="lattice.Ly"):
        check_config(config)


def test_unstable_time_step_is_rejected_before_any_job():
    config = validated({"dynamics": {"dt": 0.5}})
    with pytest.raises(ConfigError, match="decrease dt"):
        check_config(config)


def test_bias_labels_are_short_and_distinct():
    assert bias_label(3.0) == "3" and bias_label(2.5) == "2.5" and bias_label(-1) == "-1"


def test_large_lattice_bias_must_be_a_validation_bias():
    config = validated({"large_lattice": {"enabled": True, "bias": 2.15}})
    with pytest.raises(ConfigError, match="large_lattice.bias"):
        check_config(config)
    check_config(validated({"large_lattice": {"enabled": False, "bias": 2.15}}))  # off: ignored


def test_large_lattice_narrower_than_the_model_is_rejected():
    config = validated({"large_lattice": {"enabled": True, "Ly": 10}, "model": {"cutoff": 6}})
    with pytest.raises(ConfigError, match="large_lattice.Ly"):
        check_config(config)


def test_large_lattice_needs_a_model_that_has_seen_the_bulk():
    # 14 columns, cutoff 6: every site sees an electrode, none the bulk of a longer sample
    config = validated({"lattice": {"Lx": 14}, "model": {"cutoff": 6},
                        "large_lattice": {"enabled": True}})
    with pytest.raises(ConfigError, match="lattice.Lx = 14 < 2 \\* model.cutoff \\+ 3 = 15"):
        check_config(config)
    check_config(validated({"lattice": {"Lx": 15}, "model": {"cutoff": 6},
                            "large_lattice": {"enabled": True}}))


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"physics": {"kappa": float("nan")}}, "physics.kappa"),
        ({"physics": {"g": float("inf")}}, "physics.g"),
        ({"model": {"learning_rate": float("inf")}}, "model.learning_rate"),
        ({"validation": {"biases": [2.0, float("nan")]}}, r"validation.biases\[1\]"),
    ],
)
def test_non_finite_numbers_are_rejected_naming_the_key(patch, key):
    config = validated({})
    for section, values in patch.items():
        config[section].update(values)
    with pytest.raises(ConfigError, match=key + ".*finite"):
        check_config(config)


def test_absurd_biases_are_rejected():
    config = validated({"validation": {"biases": [2.0, 1e6]}})
    with pytest.raises(ConfigError, match=r"validation.biases.*1000000"):
        check_config(config)


def test_canonical_form_ignores_key_order_and_number_spelling():
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    a = validated({"physics": {"g": 1.5, "K": 1}, "lattice": {"Ly": 6, "Lx": 7}})
    b = validated({"lattice": {"Lx": 7, "Ly": 6}, "physics": {"K": 1.0}})
    ca, cb = canonical_config(a, schema), canonical_config(b, schema)
    assert repr(ca) == repr(cb)  # Snakemake compares job parameters as text
    assert isinstance(ca["physics"]["K"], float) and isinstance(ca["lattice"]["Lx"], int)
    assert all(isinstance(b, float) for b in ca["training_data"]["biases"])
    assert list(ca) == sorted(ca) and list(ca["physics"]) == sorted(ca["physics"])


def test_memory_estimate_refuses_a_lattice_that_cannot_fit():
    from holstein.pipeline.resources import MemoryEstimateError, check_memory, negf_job_mb

    estimate = negf_job_mb(4000 * 4000, 301)
    assert estimate > 2**30  # about 16 complex N x N matrices: petabytes
    with pytest.raises(MemoryEstimateError, match=r"PiB|GiB.*lattice.Lx"):
        check_memory("an NEGF job", estimate, 24_000, "lattice.Lx and lattice.Ly")
    check_memory("an NEGF job", negf_job_mb(16 * 14, 301), 24_000, "lattice.Lx")


def test_the_physics_takes_no_default_for_a_configured_key():
    """The schema is the one home of a default: the physics' constructors and solver ask
    for every key the config sets."""
    import dataclasses
    import inspect

    from holstein.physics.forces import NEGFForceProvider, negf_provider
    from holstein.physics.langevin import BrownianParameters
    from holstein.physics.lattice import checkerboard
    from holstein.physics.negf import steady_state

    schema = yaml.safe_load(Path(SCHEMA).read_text())["properties"]
    configured = {k for section in ("physics", "dynamics", "negf")
                  for k in schema[section]["properties"]}
    for function in (steady_state, checkerboard, negf_provider):
        defaulted = {name for name, p in inspect.signature(function).parameters.items()
                     if p.default is not inspect.Parameter.empty}
        assert not defaulted & configured, (function.__name__, defaulted & configured)
    for cls in (NEGFForceProvider, BrownianParameters):
        defaulted = {f.name for f in dataclasses.fields(cls)
                     if f.default is not dataclasses.MISSING}
        assert not defaulted & configured, (cls.__name__, defaulted & configured)
    runs = (Path(__file__).parents[1] / "src/holstein/pipeline/runs.py").read_text()
    assert 'dynamics.get("initial"' not in runs


def test_relaxed_start_of_a_lattice_beyond_negf_is_rejected():
    config = validated({"dynamics": {"initial": "relaxed"}, "large_lattice": {"enabled": True}})
    with pytest.raises(ConfigError, match="dynamics.initial: checkerboard"):
        check_config(config)
    check_config(validated({"dynamics": {"initial": "relaxed"},
                            "large_lattice": {"enabled": True, "Lx": 40, "Ly": 30}}))
    check_config(validated({"dynamics": {"initial": "relaxed"}}))  # large lattice off


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"active_learning": {"trust_lo": 0.3, "trust_hi": 0.2}}, "trust_lo = 0.3 is not below"),
        ({"active_learning": {"iterations": 1}, "model": {"committee": 1}},
         "model.committee = 1"),
        ({"active_learning": {"iterations": 1, "explore": {"lattices": [{"Lx": 20, "Ly": 14}]}}},
         "20 x 14"),
        ({"active_learning": {"iterations": 1, "explore": {"seeds": [101]}}},
         "explore.seeds and validation.seeds share \\[101\\]"),
        ({"active_learning": {"iterations": 1, "explore": {"biases": [2.0, 2.00000000001]}}},
         "explore.biases has duplicates"),
    ],
)
def test_active_learning_settings_that_cannot_work_are_refused(patch, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validated(patch))


def test_active_learning_accepts_the_training_lattice_and_is_unchecked_when_off():
    check_config(validated({"active_learning": {
        "iterations": 2, "explore": {"lattices": [{"Lx": 16, "Ly": 14}]}}}))
    check_config(validated({"active_learning": {"explore": {"seeds": [101]}}}))  # off


def test_the_model_kind_is_checked_with_its_training_parameters():
    check_config(validated({"model": {"kind": "transport", "bond_loss_weight": 0.3}}))
    with pytest.raises(ConfigError, match="model: .*bond_loss_weight > 0"):
        check_config(validated({"model": {"bond_loss_weight": 0}}))  # bond heads, weight 0
    with pytest.raises(ConfigError, match="conductance_cutoff = 6 with cutoff = 6"):
        check_config(validated({"model": {"conductance_cutoff": 6}}))
    check_config(validated({"model": {"kind": "local", "bond_loss_weight": 0}}))
    with pytest.raises(WorkflowError, match="nonlocal"):
        validated({"model": {"kind": "nonlocal"}})


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"transfer": {"Lx": 31}}, "transfer.Lx = 31 < 2 \\* lattice.Lx = 32"),
        ({"lattice": {"Ly": 16}}, "transfer.Ly = 14 < lattice.Ly = 16"),
        ({"transfer": {"biases": [2.2, 2.25]}}, "transfer.biases \\['2.25'\\]"),
        ({"transfer": {"seeds": [2, 101]}}, "transfer.seeds and training_data.seeds share \\[2\\]"),
        ({"transfer": {"Lx": 80, "Ly": 40}, "dynamics": {"initial": "relaxed"}},
         "relaxes the transfer lattice"),
        ({"lattice": {"Lx": 14}, "transfer": {"Lx": 28}},
         "transfer.Lx = 28 needs a model that has seen the bulk"),
        ({"locality": {"min_separation": 121}}, "transfer trajectories keep 121 frames"),
        ({"locality": {"min_separation": 181}}, "training_data trajectories keep 181 frames"),
    ],
)
def test_transfer_and_locality_settings_that_cannot_work_are_refused(patch, message):
    with pytest.raises(ConfigError, match=message):
        check_config(validated(patch))


def test_transfer_settings_are_unchecked_when_off():
    check_config(validated({"transfer": {"enabled": False, "Lx": 20, "biases": [9.0]},
                            "locality": {"min_separation": 150}}))


def test_the_production_config_is_valid(default_config):
    """config/paper.yaml, merged over the defaults as --configfile does, passes every check."""
    from snakemake.utils import update_config

    update_config(default_config, yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))
    config = validated(default_config)
    check_config(config)
    assert config["model"]["kind"] == "transport" and config["transfer"]["Lx"] >= 80


# overlays used on top of others
OVERLAYS_OVER = {"al_random_selection": ["al_seed_set"], "al_largest_selection": ["al_seed_set"]}


@pytest.mark.parametrize("name", ["converged_time_step", "transport_committee",
                                  "local_committee", "paper_lattice_check", "al_seed_set",
                                  "al_random_selection", "al_largest_selection"])
def test_every_overlay_config_is_valid(default_config, name):
    """Each config/*.yaml that the docs run with --configfile over the default passes every
    check, and sets what its name says."""
    from snakemake.utils import update_config

    default_shards = (len(default_config["training_data"]["biases"])
                      * len(default_config["training_data"]["seeds"]))
    for overlay in [*OVERLAYS_OVER.get(name, []), name]:
        update_config(default_config,
                      yaml.safe_load((ROOT / "config" / f"{overlay}.yaml").read_text()))
    config = validated(default_config)
    check_config(config)
    shards = len(config["training_data"]["biases"]) * len(config["training_data"]["seeds"])
    active = config["active_learning"]
    expected = {"converged_time_step": config["dynamics"]["dt"] == 0.05,
                "transport_committee": (config["model"]["kind"],
                                        config["model"]["conductance_cutoff"]) == ("transport", 4),
                "local_committee": (config["model"]["kind"],
                                    config["model"]["bond_loss_weight"]) == ("local", 0),
                "paper_lattice_check": (config["transfer"]["Lx"], config["transfer"]["Ly"],
                                        len(config["transfer"]["seeds"])) == (40, 30, 2),
                "al_seed_set": 3 * shards <= default_shards and active["iterations"] > 0
                and active["selection"] == "deviation",
                "al_random_selection": active["selection"] == "random"
                and active["iterations"] > 0,
                "al_largest_selection": active["selection"] == "largest"
                and active["iterations"] > 0}
    assert expected[name]


def test_the_converged_time_step_config_keeps_every_physical_time(default_config):
    """config/converged_time_step.yaml halves dt and doubles every step count and stride:
    the runs cover the same times and record frames at the same times."""
    from snakemake.utils import update_config

    dt = default_config["dynamics"]["dt"]
    before = {s: dict(default_config[s]) for s in ("training_data", "validation", "transfer")}
    update_config(default_config,
                  yaml.safe_load((ROOT / "config" / "converged_time_step.yaml").read_text()))
    config = validated(default_config)
    check_config(config)
    assert config["dynamics"]["dt"] == dt / 2
    for section, old in before.items():
        for key in ("n_steps", "stride"):
            assert config[section][key] == 2 * old[key], (section, key)
