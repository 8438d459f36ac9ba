"""The committee of force fields (``holstein.ml.committee``, ``holstein.ml.members``).

* The deviation in closed form: identical members give exactly 0, two members
  |F1 - F2| / 2 per site, and in general the population standard deviation.
* ``StackedForceField`` (all members as one network of grouped convolutions) gives every
  member's own outputs, with and without bond heads and the per-site MLP (float64).
* The provider: the mean predictor of identical members is that member; 'mean' and
  'first' give the members' mean and member 0; the deviation is that of the members' own
  providers; between recorded frames (``force_tensor``) the predictor's force is the
  recorded one; the loop over members (other architectures) gives the same numbers.
* Dynamics: a committee run records the deviation fields on every frame and io keeps them;
  an NEGF-like provider records none.
* Members: seeds model.seed + k, committee keys left out of the training parameters, and
  members trained on the same data differ in split and weights; a member's provenance
  check accepts its own section and refuses another member's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from schema_defaults import DEFAULTS, local_model_defaults, model_defaults, training_parameters
from synthetic import PHYSICS, random_model, synthetic_data

from holstein.data.io import read_trajectory, write_trajectory
from holstein.data.records import DEVIATION_FIELDS
from holstein.ml import committee as committee_module
from holstein.ml.checkpoint import save_checkpoint
from holstein.ml.committee import (
    CommitteeProvider,
    StackedForceField,
    deviation_summaries,
    force_deviation,
    load_committee,
)
from holstein.ml.members import COMMITTEE_KEYS, committee_size, member_section
from holstein.ml.provider import MLForceProvider
from holstein.ml.training.parameters import TrainingParameters
from holstein.ml.training.provenance import ProvenanceError, check_provenance
from holstein.physics.dynamics import run_brownian
from holstein.physics.forces import ElectronicResponse
from holstein.physics.lattice import checkerboard

pytestmark = pytest.mark.usefixtures("torch_one_thread")

RNG = np.random.default_rng(20261128)


def copies(model, n):
    """``n`` members with the weights of ``model``."""
    out = []
    for _ in range(n):
        member = random_model(cutoff=model.cutoff, channels=model.channels,
                              bond_heads=model.bond_heads)
        member.load_state_dict(model.state_dict())
        out.append(member)
    return out


# ----------------------------------------------------------------------------- deviation


def test_identical_members_deviate_by_exactly_zero():
    f = RNG.normal(size=(5, 7, 6)) * 1e3 + 0.1  # a large common part
    assert np.array_equal(force_deviation(np.stack([f, f, f])), np.zeros_like(f))


def test_two_members_deviate_by_half_their_difference():
    f1, f2 = RNG.normal(size=(2, 4, 7, 6))
    np.testing.assert_allclose(force_deviation(np.stack([f1, f2])), np.abs(f1 - f2) / 2,
                               rtol=1e-14, atol=0)


def test_the_deviation_is_the_population_standard_deviation_over_the_members():
    forces = RNG.normal(size=(3, 5, 4, 6)) + 100.0
    np.testing.assert_allclose(force_deviation(forces, axis=1), np.std(forces, axis=1),
                               rtol=1e-9)
    summary = deviation_summaries(force_deviation(forces, axis=1))
    per_frame = np.std(forces, axis=1).reshape(3, -1)
    np.testing.assert_allclose(summary["force_deviation_max"], per_frame.max(axis=1))
    np.testing.assert_allclose(summary["force_deviation_mean"], per_frame.mean(axis=1))


# ----------------------------------------------------------------------------- one network


@pytest.mark.parametrize("bond_heads, expansion", [(False, 0), (True, 0), (True, 5)])
def test_the_stacked_network_gives_every_members_outputs(bond_heads, expansion):
    members = [random_model(cutoff=3, channels=6, seed=s, bond_heads=bond_heads,
                            expansion=expansion) for s in range(3)]
    stacked = StackedForceField(members)
    q = torch.as_tensor(RNG.normal(size=(2, 9, 6)))
    bias = torch.tensor([0.5, 2.5], dtype=torch.float64)
    with torch.no_grad():
        out = stacked(q, bias)
        for k, member in enumerate(members):
            own = member(q, bias)
            assert set(own) == set(out)
            for name, value in own.items():
                assert out[name].shape == (3, *value.shape)
                np.testing.assert_allclose(out[name][k].numpy(), value.numpy(), rtol=0,
                                           atol=1e-12)


def test_members_of_different_architectures_are_refused():
    with pytest.raises(ValueError, match="one architecture"):
        StackedForceField([random_model(channels=6), random_model(channels=4)])
    with pytest.raises(ValueError, match="different architectures"):
        CommitteeProvider([random_model(channels=6), random_model(channels=4)], PHYSICS)


# ----------------------------------------------------------------------------- provider


def test_the_mean_of_identical_members_is_that_member():
    model = random_model(cutoff=2, bond_heads=True, seed=3)
    single = MLForceProvider(copies(model, 1)[0], PHYSICS)
    committee = CommitteeProvider(copies(model, 3), PHYSICS, predictor="mean")
    q = RNG.normal(size=(8, 6))
    one, three = single.evaluate(q, 1.3), committee.evaluate(q, 1.3)
    for name in ("force", "density", "bond_current_x", "bond_current_y"):
        np.testing.assert_allclose(getattr(three, name), getattr(one, name), atol=1e-6)
    assert three.current == pytest.approx(one.current, abs=1e-6)
    assert np.array_equal(three.force_deviation, np.zeros((8, 6)))
    assert three.force_deviation_max == 0.0 and three.force_deviation_mean == 0.0


@pytest.mark.parametrize("predictor", ["mean", "first"])
def test_predictor_and_deviation_from_the_members_own_providers(predictor):
    members = [random_model(cutoff=2, seed=s, bond_heads=True) for s in (1, 2)]
    own = [MLForceProvider(m, PHYSICS) for m in copies(members[0], 1) + copies(members[1], 1)]
    committee = CommitteeProvider(members, PHYSICS, predictor=predictor)
    q = RNG.normal(size=(8, 6))
    forces = [p.evaluate(q, 2.0).force for p in own]
    response = committee.evaluate(q, 2.0)
    want = (forces[0] + forces[1]) / 2 if predictor == "mean" else forces[0]
    np.testing.assert_allclose(response.force, want, atol=1e-5)
    np.testing.assert_allclose(response.density, 0.5 - response.force / PHYSICS["g"],
                               atol=1e-12)
    bonds = [p.evaluate(q, 2.0).bond_current_x for p in own]
    want_bx = (bonds[0] + bonds[1]) / 2 if predictor == "mean" else bonds[0]
    np.testing.assert_allclose(response.bond_current_x, want_bx, atol=1e-5)
    # the deviation of two members: half their difference, site by site
    np.testing.assert_allclose(response.force_deviation, np.abs(forces[0] - forces[1]) / 2,
                               atol=1e-5)
    assert response.force_deviation_max == pytest.approx(response.force_deviation.max())
    assert response.force_deviation_mean == pytest.approx(response.force_deviation.mean())
    assert response.force_deviation_max > 1e-3  # different members do disagree
    # between recorded frames: the same force, and no deviation
    quiet = committee.evaluate(q, 2.0, observables=False)
    assert quiet.force_deviation is None and quiet.bond_current_x is None
    np.testing.assert_allclose(quiet.force, response.force, atol=1e-6)
    on_device = committee.force_tensor(torch.as_tensor(q), 2.0)
    assert on_device.dtype == torch.float64
    np.testing.assert_allclose(on_device.numpy(), response.force, atol=1e-6)


def test_members_evaluated_one_by_one_give_the_stacked_numbers(monkeypatch):
    members = [random_model(cutoff=2, seed=s, bond_heads=True) for s in range(3)]
    q = RNG.normal(size=(3, 8, 6))
    stacked = CommitteeProvider(members, PHYSICS).predict_batch(q, [0.0, 1.0, 2.0])
    monkeypatch.setattr(committee_module, "stackable", lambda members: False)
    looped_provider = CommitteeProvider(members, PHYSICS)
    assert looped_provider.stacked is None
    looped = looped_provider.predict_batch(q, [0.0, 1.0, 2.0])
    assert set(looped) == set(stacked)
    for name, value in stacked.items():
        np.testing.assert_allclose(looped[name], value, atol=1e-5)
    assert looped["member_force"].shape == (3, 3, 8, 6)


def test_large_inputs_on_the_cpu_run_the_members_one_by_one(monkeypatch):
    members = [random_model(cutoff=2, seed=s, bond_heads=True) for s in range(2)]
    provider = CommitteeProvider(members, PHYSICS)
    q = RNG.normal(size=(2, 8, 6))
    small = provider.predict_batch(q, [0.0, 1.0])
    calls = []
    monkeypatch.setattr(provider.stacked, "forward",
                        lambda *a, **k: calls.append(1) or pytest.fail("stacked call"))
    monkeypatch.setattr(committee_module, "STACKED_MAX_SITES_CPU", q.size - 1)
    large = provider.predict_batch(q, [0.0, 1.0])
    assert not calls
    for name, value in small.items():
        np.testing.assert_allclose(large[name], value, atol=1e-5)


def test_a_committee_has_at_least_two_members_and_a_known_predictor():
    with pytest.raises(ValueError, match="at least 2 members"):
        CommitteeProvider([random_model()], PHYSICS)
    with pytest.raises(ValueError, match="predictor"):
        CommitteeProvider([random_model(), random_model(seed=1)], PHYSICS, predictor="median")


def test_the_response_carries_exactly_the_recorded_fields():
    fields = {f.name for f in dataclasses.fields(ElectronicResponse)}
    assert set(DEVIATION_FIELDS) <= fields


# ----------------------------------------------------------------------------- dynamics, io


def test_a_committee_run_records_the_deviation_on_every_frame(tmp_path):
    members = [random_model(cutoff=2, seed=s) for s in range(3)]
    committee = CommitteeProvider(members, PHYSICS)
    q0 = checkerboard(8, 6, PHYSICS["g"], PHYSICS["K"], PHYSICS["kappa"])
    traj = run_brownian(q0, committee, 2.0, DEFAULTS.brownian(), n_steps=12, seed=5,
                        stride=4)
    assert traj.n_frames == 4
    assert traj.force_deviation.shape == (4, 8, 6)
    np.testing.assert_allclose(traj.force_deviation_max,
                               traj.force_deviation.reshape(4, -1).max(axis=1))
    np.testing.assert_allclose(traj.force_deviation_mean,
                               traj.force_deviation.reshape(4, -1).mean(axis=1))
    path = tmp_path / "run.parquet"
    write_trajectory(path, traj, {"bias": 2.0, "seed": 5})
    arrays, _ = read_trajectory(path)
    for name in DEVIATION_FIELDS:
        np.testing.assert_array_equal(arrays[name], getattr(traj, name))
    # a single model records no deviation
    single = run_brownian(q0, MLForceProvider(members[0], PHYSICS), 2.0,
                          DEFAULTS.brownian(), n_steps=4, seed=5, stride=4)
    assert all(getattr(single, name) is None for name in DEVIATION_FIELDS)


def test_a_run_driven_by_the_first_member_is_that_members_run():
    members = [random_model(cutoff=2, seed=s) for s in range(2)]
    q0 = checkerboard(8, 6, PHYSICS["g"], PHYSICS["K"], PHYSICS["kappa"])
    first = run_brownian(q0, CommitteeProvider(members, PHYSICS, predictor="first"), 2.0,
                         DEFAULTS.brownian(), n_steps=20, seed=7, stride=5)
    alone = run_brownian(q0, MLForceProvider(copies(members[0], 1)[0], PHYSICS), 2.0,
                         DEFAULTS.brownian(), n_steps=20, seed=7, stride=5)
    np.testing.assert_allclose(first.q, alone.q, atol=1e-5)


def test_load_committee_checks_every_member(tmp_path):
    paths = []
    for s in range(2):
        paths.append(tmp_path / f"member_{s}.pt")
        save_checkpoint(paths[-1], random_model(cutoff=2, seed=s), PHYSICS, (8, 6))
    provider = load_committee(paths, expect=PHYSICS)
    assert isinstance(provider, CommitteeProvider) and provider.n_members == 2
    assert isinstance(load_committee(paths[:1], expect=PHYSICS), MLForceProvider)
    other = tmp_path / "other.pt"
    save_checkpoint(other, random_model(cutoff=2), {**PHYSICS, "g": 1.0}, (8, 6))
    with pytest.raises(ValueError, match="differ in physics"):
        load_committee([paths[0], other])
    with pytest.raises(ValueError, match="g: checkpoint 1.0"):
        load_committee([paths[0], other], expect=PHYSICS)


# ----------------------------------------------------------------------------- members


def test_member_sections_differ_in_the_seed_only():
    section = {**model_defaults(), "seed": 7, "committee": 3}
    sections = [member_section(section, k) for k in range(3)]
    assert [s["seed"] for s in sections] == [7, 8, 9]
    for s in sections:
        assert not set(COMMITTEE_KEYS) & set(s)
        assert {k: v for k, v in s.items() if k != "seed"} == {
            k: v for k, v in section.items() if k not in COMMITTEE_KEYS + ("seed",)}
        TrainingParameters.from_mapping(s)  # a complete set of training parameters
    with pytest.raises(ValueError, match="members 0 .. 2"):
        member_section(section, 3)
    with pytest.raises(KeyError, match="validated"):
        committee_size({"seed": 0})


@pytest.fixture(scope="module")
def two_members(tmp_path_factory):
    """Two members trained on the same synthetic data (6 trajectories), a few epochs, with
    three one-frame trajectories recorded as their training shards."""
    from holstein.data.io import write_trajectory
    from holstein.data.records import Trajectory
    from holstein.ml.training.provenance import shard_records
    from holstein.ml.training.trainer import train

    tmp = tmp_path_factory.mktemp("members")
    section = {**local_model_defaults(), "cutoff": 2, "channels": 6, "epochs": 6, "batch_size": 16,
               "patience": 6, "validation_fraction": 0.34, "bond_heads": False,
               "committee": 2, "seed": 4}
    files = []
    for k in range(3):
        files.append(tmp / f"shard_{k}.parquet")
        write_trajectory(files[-1], Trajectory(steps=np.array([0]), times=np.array([0.0]),
                                               q=np.full((1, 3, 2), float(k)), force=None),
                         {"bias": 0.0, "seed": k})
    data = synthetic_data()
    out = []
    for k in range(2):
        params = training_parameters(**member_section(section, k), threads=1)
        path = tmp / f"member_{k}" / "mlff.pt"
        metrics = train(data, params, path, log=lambda line: None,
                        training_shards=shard_records(files))
        out.append({"path": path, "metrics": metrics})
    return {"members": out, "section": section, "data": data, "files": files}


def test_members_differ_in_split_and_weights(two_members):
    first, second = (m["metrics"] for m in two_members["members"])
    assert first["val_trajectories"] != second["val_trajectories"]
    provider = load_committee([m["path"] for m in two_members["members"]], expect=PHYSICS)
    q = two_members["data"]["q"][:4]
    out = provider.predict_batch(q, two_members["data"]["bias"][:4])
    assert np.all(out["force_deviation_max"] > 0)


def test_a_members_provenance_is_its_own_section(two_members):
    section, files = two_members["section"], two_members["files"]
    path = two_members["members"][1]["path"]
    check_provenance(path, files, member_section(section, 1))
    with pytest.raises(ProvenanceError, match="model.seed: checkpoint trained with 5, "
                                              "configured 4"):
        check_provenance(path, files, member_section(section, 0))
