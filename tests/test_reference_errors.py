"""The model's errors on the NEGF reference runs (``holstein.stages.reference_errors``).

A tiny model with bond-current heads is trained by the pipeline's entry point on four
synthetic NEGF-format shards; four synthetic "reference runs" (two biases, two seeds) with
hand-written analysis summaries (switched or not, switching time) are evaluated.  The
errors are checked against an independent computation (the provider's one-snapshot path,
pooled with numpy), the selection of frames and runs against the summaries, and the
provenance check against a checkpoint of other shards and a changed model parameter.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from schema_defaults import LOCAL_MODEL

from holstein.data.io import write_trajectory
from holstein.ml.calibration import fit_scale, within_factor
from holstein.ml.members import member_section
from holstein.ml.provider import load
from holstein.ml.training.provenance import ProvenanceError
from holstein.physics.dynamics import Trajectory
from holstein.physics.observables import device_current, kirchhoff_spread, series_current
from holstein.stages.calibrate_committee import calibrate_committee
from holstein.stages.reference_errors import (
    read_reference_runs,
    reference_current,
    reference_errors,
    reference_force_rmse,
)
from holstein.stages.train import train_from_shards

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PHYSICS = dict(t=1.0, g=1.5, K=1.0, kappa=0.18, gamma=1.0, temperature=0.1,
               bias_scheme="gated")
SHAPE = (5, 4)
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
# A committee of one (the tests of a single model), and the same with two members
SETTINGS = {"predictor": "mean", "trust_statistic": "mean"}
HYPER = {**{k: v["default"] for k, v in SCHEMA["properties"]["model"]["properties"].items()},
         "cutoff": 1, "channels": 4, "epochs": 2, "batch_size": 8,
         "validation_fraction": 0.5, "bond_heads": True, "committee": 1, **LOCAL_MODEL}
COMMITTEE = {**HYPER, "committee": 2}


def write_run(path, bias, seed, n=6, force_scale=1.0, draw=None):
    """A synthetic NEGF-format trajectory: local force and bond currents of random q
    (drawn with the random seed ``draw``, default ``seed``)."""
    rng = np.random.default_rng(seed if draw is None else draw)
    q = rng.normal(size=(n, *SHAPE))
    force = force_scale * np.tanh(q + 0.3 * bias)
    bx = 0.1 * np.tanh(bias) + 0.01 * (q[:, :-1] - q[:, 1:])
    by = 0.02 * (np.roll(q, -1, axis=2) - q)
    traj = Trajectory(steps=np.arange(n), times=0.5 * np.arange(n), q=q, force=force,
                      density=0.5 - force / PHYSICS["g"], bond_current_x=bx,
                      bond_current_y=by, current=device_current(bx))
    write_trajectory(path, traj, {"bias": bias, "seed": seed, "physics": PHYSICS,
                                  "dynamics": {"damping": 0.2, "dt": 0.1}, "stride": 1})
    return path


def write_summary(path, bias, seed, switched, switching_time=math.nan):
    path.write_text(json.dumps({"provider": "negf", "bias": bias, "seed": seed,
                                "switched": switched, "switching_time": switching_time}))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference_errors")
    shards = [write_run(tmp / "shards" / f"V{b:g}_s{s}.parquet", b, s)
              for b in (1.0, 3.0) for s in (1, 2)]
    paths = []
    for member in range(2):  # member 0 is the single model of a committee of one
        folder = tmp / "model" / f"member_{member}"
        paths.append(folder / "mlff.pt")
        train_from_shards(shards, member_section(COMMITTEE, member), paths[-1],
                          folder / "metrics.json", folder / "parity.parquet")
    return {"path": paths[0], "members": paths, "shards": shards, "tmp": tmp}


@pytest.fixture()
def references(tmp_path):
    """Four reference runs: at V = 2 both switched (at t = 1 and 2); at V = 2.5 seed 11
    switched at t = 1.5 and seed 12 never did."""
    settings = {(2.0, 11): (True, 1.0), (2.0, 12): (True, 2.0), (2.5, 11): (True, 1.5),
                (2.5, 12): (False, math.nan)}
    runs, summaries = [], []
    for (bias, seed), (switched, at) in settings.items():
        runs.append(write_run(tmp_path / f"V{bias:g}_s{seed}.parquet", bias, seed,
                              force_scale=1.2, draw=100 + seed))
        summaries.append(write_summary(tmp_path / f"V{bias:g}_s{seed}.json", bias, seed,
                                       switched, at))
    return {"runs": runs, "summaries": summaries, "settings": settings}


def test_force_errors_match_an_independent_computation(model, references):
    provider = load(model["path"])
    runs = read_reference_runs(references["runs"], references["summaries"])
    result = reference_force_rmse(provider, runs)
    assert set(result) == {"2", "2.5"}
    for bias in (2.0, 2.5):
        pred, ref = [], []
        for run in runs:
            if run.meta["bias"] == bias:
                pred += [provider.electronic_force(q, bias) for q in run.arrays["q"]]
                ref += list(run.arrays["force"])
        pred, ref = np.array(pred), np.array(ref)
        row = result[f"{bias:g}"]
        assert row["n_snapshots"] == 12  # two seeds of six frames, pooled
        np.testing.assert_allclose(row["rmse"], np.sqrt(np.mean((pred - ref) ** 2)),
                                   rtol=1e-5)
        np.testing.assert_allclose(row["force_std"], np.std(ref), rtol=1e-12)
        np.testing.assert_allclose(row["relative_rmse"], row["rmse"] / row["force_std"],
                                   rtol=1e-12)


def test_current_errors_use_the_frames_after_each_switch_only(model, references):
    provider = load(model["path"])
    runs = read_reference_runs(references["runs"], references["summaries"])
    result = reference_current(provider, runs)
    assert set(result) == {"2", "2.5"}
    assert result["2"]["n_runs"] == 2 and result["2.5"]["n_runs"] == 1  # unswitched left out
    # times 0, 0.5, ..., 2.5: from t = 1 four frames, from 2 two, from 1.5 three
    assert result["2"]["n_snapshots"] == 6 and result["2.5"]["n_snapshots"] == 3
    for bias, seeds in ((2.0, (11, 12)), (2.5, (11,))):
        ml, series, spread, negf = [], [], [], []
        for run in runs:
            if run.meta["bias"] != bias or run.meta["seed"] not in seeds:
                continue
            for t, q, i in zip(run.arrays["time"], run.arrays["q"], run.arrays["current"],
                               strict=True):
                if t >= references["settings"][(bias, run.meta["seed"])][1]:
                    out = provider.evaluate(q, bias)
                    ml.append(out.current)
                    series.append(series_current(out.bond_current_x))
                    spread.append(kirchhoff_spread(out.bond_current_x))
                    negf.append(i)
        ml, series, negf = np.array(ml), np.array(series), np.array(negf)
        scale = np.mean(np.abs(negf))
        row = result[f"{bias:g}"]
        np.testing.assert_allclose(row["negf_mean_current"], np.mean(negf), rtol=1e-12)
        np.testing.assert_allclose(row["ml_mean_current"], np.mean(ml), rtol=1e-5)
        np.testing.assert_allclose(row["relative_rmse"],
                                   np.sqrt(np.mean((ml - negf) ** 2)) / scale, rtol=1e-4)
        np.testing.assert_allclose(row["series_relative_error_of_mean"],
                                   abs(np.mean(series) - np.mean(negf)) / scale, rtol=1e-4)
        np.testing.assert_allclose(row["ml_relative_kirchhoff_spread"],
                                   np.mean(spread) / scale, rtol=1e-4)


def test_a_bias_without_a_switched_run_is_absent(model, references):
    summaries = [write_summary(p, *key, switched=False) for p, key in
                 zip(references["summaries"], references["settings"], strict=True)
                 if key[0] == 2.5] + references["summaries"][:2]
    runs = read_reference_runs(references["runs"], summaries)
    assert set(reference_current(load(model["path"]), runs)) == {"2"}


def test_a_run_without_its_analysis_is_refused_naming_it(references):
    with pytest.raises(ValueError, match=r"V2\.5_s12\.parquet: no analysis summary for bias "
                       r"2\.5, seed 12"):
        read_reference_runs(references["runs"], references["summaries"][:3])


def test_reference_errors_writes_both_after_the_provenance_check(model, references, tmp_path):
    out = tmp_path / "reference_errors.json"
    result = reference_errors(model["path"], model["shards"], HYPER, references["runs"],
                              references["summaries"], out, **SETTINGS)
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result, default=float))
    assert set(written["reference_force_rmse"]) == {"2", "2.5"}
    assert set(written["reference_current"]) == {"2", "2.5"}
    assert written["reference_runs"] == [p.name for p in references["runs"]]
    assert written["committee"] is None  # a single model has no deviation


def test_a_foreign_checkpoint_is_refused_and_nothing_is_written(model, references, tmp_path):
    """A checkpoint trained on other shards (copied in from another run) is refused."""
    other = [write_run(tmp_path / "other" / f"V{b:g}_s{s}.parquet", b, s, draw=7 + s)
             for b in (1.0, 3.0) for s in (1, 2)]  # the same names, other frames
    foreign = tmp_path / "foreign" / "mlff.pt"
    train_from_shards(other, member_section(HYPER, 0), foreign,
                      tmp_path / "foreign" / "metrics.json",
                      tmp_path / "foreign" / "parity.parquet")
    copied = tmp_path / "run" / "mlff.pt"
    copied.parent.mkdir()
    shutil.copy(foreign, copied)
    out = tmp_path / "reference_errors.json"
    with pytest.raises(ProvenanceError, match=r"V1_s1\.parquet: sha256 .* trained on a file "
                       r"of that name .*Retrain the model"):
        reference_errors(copied, model["shards"], HYPER, references["runs"],
                         references["summaries"], out, **SETTINGS)
    assert not out.exists()
    with pytest.raises(ProvenanceError, match=r"model\.channels: checkpoint trained with 4, "
                       r"configured 6"):
        reference_errors(model["path"], model["shards"], {**HYPER, "channels": 6},
                         references["runs"], references["summaries"], out, **SETTINGS)
    assert not out.exists()


def test_a_model_without_bond_heads_has_no_current_errors(model, references, tmp_path):
    path = tmp_path / "no_bonds" / "mlff.pt"
    hyper = {**HYPER, "bond_heads": False}
    train_from_shards(model["shards"], member_section(hyper, 0), path,
                      tmp_path / "no_bonds" / "metrics.json",
                      tmp_path / "no_bonds" / "parity.parquet")
    result = reference_errors(path, model["shards"], hyper, references["runs"],
                              references["summaries"], tmp_path / "out.json", **SETTINGS)
    assert result["reference_current"] is None
    assert set(result["reference_force_rmse"]) == {"2", "2.5"}



def _ranks(values):
    """Ranks 0 .. n-1 (the values here have no ties)."""
    order = np.argsort(values)
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def test_committee_deviation_against_the_true_error_of_every_frame(model, references,
                                                                   tmp_path):
    out = tmp_path / "reference_errors.json"
    result = reference_errors(model["members"], model["shards"], COMMITTEE,
                              references["runs"], references["summaries"], out, **SETTINGS)
    committee = result["committee"]
    assert committee["members"] == 2 and committee["predictor"] == "mean"
    # independently: each member's own provider, the mean predictor, |F1 - F2| / 2
    providers = [load(p) for p in model["members"]]
    runs = sorted(read_reference_runs(references["runs"], references["summaries"]),
                  key=lambda r: r.path)
    largest, rmse, worst, bias = [], [], [], []
    for run in runs:
        for q, negf in zip(run.arrays["q"], run.arrays["force"], strict=True):
            f1, f2 = (p.electronic_force(q, run.meta["bias"]) for p in providers)
            largest.append(np.max(np.abs(f1 - f2) / 2))
            rmse.append(np.sqrt(np.mean(((f1 + f2) / 2 - negf) ** 2)))
            worst.append(np.max(np.abs((f1 + f2) / 2 - negf)))
            bias.append(run.meta["bias"])
    frames = committee["frames"]
    np.testing.assert_allclose(frames["max_deviation"], largest, rtol=1e-4)
    np.testing.assert_allclose(frames["force_rmse"], rmse, rtol=1e-4)
    np.testing.assert_allclose(frames["max_error"], worst, rtol=1e-4)
    np.testing.assert_array_equal(frames["bias"], bias)
    rho = np.corrcoef(_ranks(np.array(largest)), _ranks(np.array(rmse)))[0, 1]
    assert committee["spearman_max_deviation"] == pytest.approx(rho, abs=1e-9)
    rho = np.corrcoef(_ranks(np.array(largest)), _ranks(np.array(worst)))[0, 1]
    assert committee["spearman_max_deviation_max_error"] == pytest.approx(rho, abs=1e-9)
    assert committee["n_frames"] == 24 and set(committee["per_bias"]) == {"2", "2.5"}
    assert len(committee["per_bias"]["2"]["member_relative_rmse"]) == 2
    assert "cost" not in committee  # a timing is benchmarks/committee_cost.py's job
    written = json.loads(out.read_text())
    assert written["committee"]["frames"]["max_deviation"] == pytest.approx(largest, rel=1e-4)
    # the calibration of the mean deviation, fitted on these frames; runs in file order
    assert frames["run"].tolist() == [k for k, r in enumerate(runs)
                                      for _ in range(len(r.arrays["q"]))]
    calibration = committee["calibration"]
    assert calibration["statistic"] == "mean" and calibration["n_runs"] == len(runs)
    assert calibration["scale"] == pytest.approx(
        fit_scale(frames["force_rmse"], frames["mean_deviation"]))
    assert 0 <= calibration["within_factor_2"] <= 1
    # the calibrated committee file records it; another lattice's reference_errors
    # judges that scale on its own frames
    committee_file = tmp_path / "committee.json"
    calibrate_committee(model["members"], out, committee_file, "mean", "mean")
    again = reference_errors(model["members"], model["shards"], COMMITTEE,
                             references["runs"], references["summaries"],
                             tmp_path / "transfer.json", **SETTINGS,
                             calibration_source=committee_file)
    judged = again["committee"]["calibration"]
    assert judged["scale"] == calibration["scale"]
    assert judged["within_factor_2"] == pytest.approx(within_factor(
        frames["force_rmse"], calibration["scale"] * frames["mean_deviation"]))
    with pytest.raises(ValueError, match="no calibration of the max deviation"):
        reference_errors(model["members"], model["shards"], COMMITTEE, references["runs"],
                         references["summaries"], tmp_path / "x.json", predictor="mean",
                         trust_statistic="max", calibration_source=committee_file)
    with pytest.raises(ValueError, match="calibrated the mean deviation, not the max"):
        calibrate_committee(model["members"], out, tmp_path / "y.json", "mean", "max")
    with pytest.raises(ValueError, match="re-run its reference_errors"):
        calibrate_committee(model["members"][::-1], out, tmp_path / "y.json", "mean", "mean")
    assert not (tmp_path / "y.json").exists()


def test_every_member_is_checked_and_counted(model, references, tmp_path):
    out = tmp_path / "reference_errors.json"
    with pytest.raises(ValueError, match="1 member checkpoints given, but model.committee = 2"):
        reference_errors(model["members"][:1], model["shards"], COMMITTEE, references["runs"],
                         references["summaries"], out, **SETTINGS)
    # member 1's checkpoint in member 0's place: trained with another seed
    with pytest.raises(ProvenanceError, match=r"model\.seed: checkpoint trained with 1, "
                       r"configured 0"):
        reference_errors(model["members"][::-1], model["shards"], COMMITTEE,
                         references["runs"], references["summaries"], out, **SETTINGS)
    assert not out.exists()
