"""The transport-field network ``holstein.ml.transport`` (random weights, float64).

* Symmetries of the whole model (conductances, Kirchhoff solve, force stage): y
  translation and both y mirrors of the ring (through a site, through a bond centre), for
  the on-site output and the bond currents (x even, y odd on the mirrored bond), 1e-12;
  float32 to 1e-5.
* Kirchhoff: the model's bond currents balance at every site, so every cross-section
  carries the same current (1e-12 relative), on two lattice sizes.
* Size: the same weights run on 10 x 7 and on 24 x 9; the conductance stage is local (a bond's
  conductance does not change when Q changes beyond ``conductance_cutoff``), while the
  force is not (a change of Q far away moves the potential, hence the force; exactly
  what the local model cannot see).
* The dense, column-elimination and conjugate-gradient solves give the same model
  outputs (30 x 21; 1e-12, 1e-9 at rtol 1e-11), and "auto" picks the exact column
  elimination on small lattices and conjugate gradients on large ones.
* Training, checkpoint, provider: a short ``train`` with ``kind="transport"`` on the
  synthetic data with bond currents writes a checkpoint that ``provider.load`` rebuilds
  with the same predictions, and the provider's device current has zero Kirchhoff spread.
* Parameters: a transport model with bond heads and no joint loss weight is refused;
  provenance accepts an older checkpoint that records neither ``kind`` nor
  ``conductance_cutoff`` when the run configures their defaults, and refuses it for a
  transport run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from schema_defaults import training_parameters
from synthetic import mirror_np, synthetic_data, with_bonds

from holstein.ml.checkpoint import read_checkpoint
from holstein.ml.model import mirror_y
from holstein.ml.provider import MLForceProvider, load
from holstein.ml.training.trainer import train
from holstein.ml.transport import TransportArchitecture, TransportForceField
from holstein.physics.observables import kirchhoff_spread

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NORM = dict(q_mean=0.1, q_std=0.7, bias_mean=1.0, bias_std=2.0, onsite_mean=0.02,
            onsite_std=0.3, bond_current_x_mean=0.05, bond_current_x_std=0.2,
            bond_current_y_mean=0.0, bond_current_y_std=0.1)


def transport_model(cutoff=3, conductance_cutoff=2, channels=5, seed=0, dtype=torch.float64,
                    bias_scheme="gated"):
    torch.manual_seed(seed)
    arch = TransportArchitecture(cutoff=cutoff, conductance_cutoff=conductance_cutoff,
                                 channels=channels, head_channels=channels,
                                 conductance_channels=channels, expansion=0, bond_heads=True)
    model = TransportForceField(arch, NORM, bias_scheme).to(dtype).eval()
    # random weights give conductances that barely vary; sharpen them so that the
    # potential really depends on the configuration
    with torch.no_grad():
        model.conductance_head.net[-1].weight.mul_(20.0)
    return model


def outputs(model, q, bias=2.2):
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        qt = torch.as_tensor(np.ascontiguousarray(q), dtype=dtype)[None]
        return {k: v[0].numpy() for k, v in model(qt, torch.tensor([bias], dtype=dtype)).items()}


def check_mirrored(a, b, atol):
    np.testing.assert_allclose(mirror_np(a["onsite"]), b["onsite"], atol=atol)
    np.testing.assert_allclose(mirror_np(a["bond_current_x"]), b["bond_current_x"], atol=atol)
    np.testing.assert_allclose(-mirror_np(a["bond_current_y"], "bond_y"), b["bond_current_y"],
                               atol=atol)


@pytest.mark.parametrize("shape", [(9, 7), (8, 10)])
def test_y_translation_and_mirror_of_the_whole_model(shape):
    model = transport_model()
    q = np.random.default_rng(1).standard_normal(shape)
    out = outputs(model, q)
    for shift in (1, 4):
        moved = outputs(model, np.roll(q, shift, axis=1))
        for k in out:
            np.testing.assert_allclose(moved[k], np.roll(out[k], shift, axis=1), atol=1e-12)
    check_mirrored(out, outputs(model, mirror_np(q)), 1e-12)
    # the mirror through a bond centre: y -> Ly - 1 - y
    flipped = outputs(model, q[:, ::-1])
    np.testing.assert_allclose(flipped["onsite"], out["onsite"][:, ::-1], atol=1e-12)
    np.testing.assert_allclose(flipped["bond_current_x"], out["bond_current_x"][:, ::-1],
                               atol=1e-12)
    np.testing.assert_allclose(flipped["bond_current_y"],
                               -np.roll(out["bond_current_y"][:, ::-1], -1, axis=1), atol=1e-12)
    model32 = transport_model(dtype=torch.float32)
    check_mirrored(outputs(model32, q), outputs(model32, mirror_np(q)), 1e-5)
    # not x-symmetric (the bias breaks it), so the checks above could fail
    assert np.abs(outputs(model, q[::-1])["onsite"] - out["onsite"][::-1]).max() > 1e-3


@pytest.mark.parametrize("shape", [(10, 7), (24, 9)])
def test_bond_currents_obey_kirchhoff_on_any_size(shape):
    model = transport_model()
    out = outputs(model, np.random.default_rng(2).standard_normal(shape))
    sections = out["bond_current_x"].sum(axis=1)
    assert abs(sections.mean()) > 1e-3
    assert kirchhoff_spread(out["bond_current_x"]) < 1e-12 * abs(sections.mean())
    # the y currents close the balance at every interior site
    ix, iy = out["bond_current_x"], out["bond_current_y"]
    net = np.zeros(shape)
    net[:-1] += ix
    net[1:] -= ix
    net += iy - np.roll(iy, 1, axis=1)
    assert np.abs(net[1:-1]).max() < 1e-12 * abs(sections.mean())


def test_the_three_solvers_give_the_same_outputs():
    model = transport_model()
    q = np.random.default_rng(3).standard_normal((30, 21))
    assert model.solver_for(30, 21) == "columns" and model.solver_for(256, 256) == "cg"
    model.set_solver("dense")
    dense = outputs(model, q)
    model.set_solver("columns")
    columns = outputs(model, q)
    model.set_solver("cg", rtol=1e-11)
    cg = outputs(model, q)
    assert model.last_solve.iterations > 0
    for k in dense:
        np.testing.assert_allclose(columns[k], dense[k], atol=1e-12)
        np.testing.assert_allclose(cg[k], dense[k], atol=1e-9)
    again = outputs(model, q)  # warm start from the previous solution on this lattice
    assert model.last_solve.iterations == 0
    np.testing.assert_allclose(again["onsite"], cg["onsite"], atol=1e-12)


def test_the_warm_start_is_never_taken_from_another_device():
    """After a GPU solve the cache holds a CUDA tensor; a CPU solve of the same shape must
    start cold, not from it (here a tensor on torch's 'meta' device stands in for it)."""
    model = transport_model()
    q = np.random.default_rng(3).standard_normal((30, 21))
    model.set_solver("cg", rtol=1e-11)
    cold = outputs(model, q)
    (key, value), = model._warm.items()
    assert key[-1] == torch.device("cpu")
    model._warm = {(*key[:-1], torch.device("meta")): value.to("meta")}
    again = outputs(model, q)
    assert model.last_solve.iterations > 0  # started cold
    np.testing.assert_allclose(again["onsite"], cold["onsite"], atol=1e-9)


def test_conductances_are_local_the_force_is_not():
    model = transport_model(cutoff=3, conductance_cutoff=2)
    rng = np.random.default_rng(4)
    q = rng.standard_normal((16, 7))
    changed = q.copy()
    changed[12:] = rng.standard_normal((4, 7))  # columns 12 and beyond

    def network(qq):
        with torch.no_grad():
            t = model.transport(torch.as_tensor(qq)[None], torch.tensor([2.2],
                                                                     dtype=torch.float64))
        return t

    a, b = network(q), network(changed)
    # x bonds (x, x + 1) with x + 2 < 12 see only columns < 12 (reach 2)
    torch.testing.assert_close(a["gx"][:, :10], b["gx"][:, :10], rtol=0, atol=0)
    torch.testing.assert_close(a["gy"][:, :10], b["gy"][:, :10], rtol=0, atol=0)
    torch.testing.assert_close(a["gl"], b["gl"], rtol=0, atol=0)
    assert float((a["gx"][:, 11:] - b["gx"][:, 11:]).abs().max()) > 1e-6
    # ... but the potential, and through it the force, changes at the far end, column 0
    assert float((a["phi"][:, 0] - b["phi"][:, 0]).abs().max()) > 1e-8
    delta = np.abs(outputs(model, q)["onsite"][0] - outputs(model, changed)["onsite"][0])
    assert delta.max() > 1e-10


def test_bias_scheme_sets_the_electrode_potentials():
    for scheme, want in (("gated", (2.2, 0.0)), ("symmetric", (1.1, -1.1))):
        model = transport_model(bias_scheme=scheme)
        mu = model.potentials(torch.tensor([2.2], dtype=torch.float64), torch.zeros(1))
        assert [float(m) for m in mu] == pytest.approx(want)


@pytest.fixture(scope="module")
def trained_transport(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transport")
    data = with_bonds(synthetic_data(n=12))
    params = training_parameters(
        cutoff=2, channels=4, epochs=3, batch_size=16, learning_rate=5e-3, weight_decay=0.0,
        patience=5, validation_fraction=0.5, seed=0, threads=1, bond_heads=True,
        bond_loss_weight=0.5, kind="transport", conductance_cutoff=1)
    path = tmp / "mlff.pt"
    metrics = train(data, params, path, log=lambda _: None)
    return {"path": path, "data": data, "metrics": metrics, "params": params}


def test_training_checkpoint_and_provider(trained_transport):
    path, data = trained_transport["path"], trained_transport["data"]
    ckpt = read_checkpoint(path)
    assert ckpt["architecture"]["kind"] == "transport-field CNN"
    assert ckpt["hyper"]["kind"] == "transport"
    provider = load(path)
    assert isinstance(provider.model, TransportForceField)
    assert provider.cutoff == 2
    q, bias = data["q"][:5], data["bias"][:5]
    out = provider.predict_batch(q, bias)
    assert np.all(np.isfinite(out["force"]))
    spread = kirchhoff_spread(out["bond_current_x"])
    assert np.all(spread <= 1e-5 * np.maximum(np.abs(out["current"]), 1e-6))
    # the same weights as the trained module, in float32
    again = MLForceProvider(load(path).model, ckpt["physics"]).predict_batch(q, bias)
    np.testing.assert_array_equal(again["force"], out["force"])
    assert trained_transport["metrics"]["validation_bond"] is not None


def test_transport_with_bond_heads_needs_a_joint_weight():
    with pytest.raises(ValueError, match="bond_loss_weight > 0"):
        training_parameters(kind="transport", bond_heads=True, bond_loss_weight=0.0)
    with pytest.raises(ValueError, match="model.kind"):
        training_parameters(kind="nonlocal")


def test_older_checkpoints_read_as_the_local_default(tmp_path):
    from test_provenance import HYPER, write_shard

    from holstein.ml.training.provenance import ProvenanceError, check_provenance, shard_records
    from holstein.stages.train import train_from_shards

    shards = [tmp_path / f"V{b:g}_s1.parquet" for b in (1.0, 2.0)]
    for k, s in enumerate(shards):
        write_shard(s, 1.0 + k, 1)
    model = tmp_path / "mlff.pt"
    train_from_shards(shards, HYPER, model, tmp_path / "m.json", tmp_path / "p.parquet")
    ckpt = torch.load(model, weights_only=True)
    for key in ("kind", "conductance_cutoff"):  # as written before those knobs existed
        del ckpt["hyper"][key]
    torch.save(ckpt, model)
    assert read_checkpoint(model)["training_shards"] == shard_records(shards)
    check_provenance(model, shards, HYPER)
    with pytest.raises(ProvenanceError, match="model.kind: not recorded"):
        check_provenance(model, shards, {**HYPER, "kind": "transport", "bond_heads": False,
                                          "cutoff": 3, "conductance_cutoff": 1})


def test_mirror_of_the_potential_is_the_potential_of_the_mirror():
    model = transport_model()
    q = torch.as_tensor(np.random.default_rng(6).standard_normal((9, 8)))[None]
    v = torch.tensor([2.0], dtype=torch.float64)
    with torch.no_grad():
        phi = model.transport(q, v)["phi"]
        phi_m = model.transport(mirror_y(q), v)["phi"]
    torch.testing.assert_close(mirror_y(phi), phi_m, rtol=0, atol=1e-12)
    assert float(phi.std()) > 1e-3


def test_a_committee_of_transport_models_gives_the_members_mean_and_spread():
    from holstein.ml.committee import CommitteeProvider

    members = [transport_model(seed=s) for s in (0, 1)]
    physics = {"g": 1.5}
    committee = CommitteeProvider(members, physics)
    assert committee.stacked is None  # not the convolutional architecture: one by one
    q = np.random.default_rng(3).normal(size=(7, 6))
    out = committee.predict_batch(q[None], [2.2])
    forces = [-1.5 * outputs(m.float(), q)["onsite"] for m in members]
    np.testing.assert_allclose(out["force"][0], (forces[0] + forces[1]) / 2, atol=1e-5)
    np.testing.assert_allclose(out["force_deviation"][0], np.abs(forces[0] - forces[1]) / 2,
                               atol=1e-5)
    assert kirchhoff_spread(out["bond_current_x"][0]) < 1e-3 * abs(out["current"][0])


def test_a_null_conductance_cutoff_is_the_same_network_as_cutoff_minus_two(tmp_path):
    from test_provenance import HYPER, write_shard

    from holstein.ml.training.provenance import ProvenanceError, check_provenance
    from holstein.stages.train import train_from_shards

    shards = [tmp_path / f"V{b:g}_s1.parquet" for b in (1.0, 2.0)]
    for k, s in enumerate(shards):
        write_shard(s, 1.0 + k, 1)
    hyper = {**HYPER, "kind": "transport", "bond_heads": False, "cutoff": 3,
             "conductance_cutoff": None}
    model = tmp_path / "mlff.pt"
    train_from_shards(shards, hyper, model, tmp_path / "m.json", tmp_path / "p.parquet")
    assert read_checkpoint(model)["architecture"]["conductance_cutoff"] == 1
    check_provenance(model, shards, {**hyper, "conductance_cutoff": 1})  # what null meant
    with pytest.raises(ProvenanceError, match="model.conductance_cutoff: checkpoint trained "
                       "with 1, configured 2"):
        check_provenance(model, shards, {**hyper, "conductance_cutoff": 2})
