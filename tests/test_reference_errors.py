"""The model's errors on the NEGF reference runs (``holstein.reference_errors``).

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

from holstein.dynamics import Trajectory
from holstein.io import write_trajectory
from holstein.ml.provenance import ProvenanceError
from holstein.ml.provider import load
from holstein.observables import device_current, kirchhoff_spread, series_current
from holstein.reference_errors import (
    read_reference_runs,
    reference_current,
    reference_errors,
    reference_force_rmse,
)
from holstein.training import train_from_shards

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PHYSICS = dict(t=1.0, g=1.5, K=1.0, kappa=0.18, gamma=1.0, temperature=0.1,
               bias_scheme="gated")
SHAPE = (5, 4)
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
HYPER = {**{k: v["default"] for k, v in SCHEMA["properties"]["model"]["properties"].items()},
         "cutoff": 1, "channels": 4, "epochs": 2, "batch_size": 8,
         "validation_fraction": 0.5, "bond_heads": True}


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
    write_trajectory(path, traj, {"bias": bias, "seed": seed, "physics": PHYSICS})
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
    path = tmp / "model" / "mlff.pt"
    train_from_shards(shards, HYPER, path, tmp / "model" / "metrics.json",
                      tmp / "model" / "parity.parquet")
    return {"path": path, "shards": shards, "tmp": tmp}


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
                              references["summaries"], out)
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result, default=float))
    assert set(written["reference_force_rmse"]) == {"2", "2.5"}
    assert set(written["reference_current"]) == {"2", "2.5"}
    assert written["reference_runs"] == [p.name for p in references["runs"]]


def test_a_foreign_checkpoint_is_refused_and_nothing_is_written(model, references, tmp_path):
    """A checkpoint trained on other shards (copied in from another run) is refused."""
    other = [write_run(tmp_path / "other" / f"V{b:g}_s{s}.parquet", b, s, draw=7 + s)
             for b in (1.0, 3.0) for s in (1, 2)]  # the same names, other frames
    foreign = tmp_path / "foreign" / "mlff.pt"
    train_from_shards(other, HYPER, foreign, tmp_path / "foreign" / "metrics.json",
                      tmp_path / "foreign" / "parity.parquet")
    copied = tmp_path / "run" / "mlff.pt"
    copied.parent.mkdir()
    shutil.copy(foreign, copied)
    out = tmp_path / "reference_errors.json"
    with pytest.raises(ProvenanceError, match=r"V1_s1\.parquet: sha256 .* trained on a file "
                       r"of that name .*Retrain the model"):
        reference_errors(copied, model["shards"], HYPER, references["runs"],
                         references["summaries"], out)
    assert not out.exists()
    with pytest.raises(ProvenanceError, match=r"model\.channels: checkpoint trained with 4, "
                       r"configured 6"):
        reference_errors(model["path"], model["shards"], {**HYPER, "channels": 6},
                         references["runs"], references["summaries"], out)
    assert not out.exists()


def test_a_model_without_bond_heads_has_no_current_errors(model, references, tmp_path):
    path = tmp_path / "no_bonds" / "mlff.pt"
    hyper = {**HYPER, "bond_heads": False}
    train_from_shards(model["shards"], hyper, path, tmp_path / "no_bonds" / "metrics.json",
                      tmp_path / "no_bonds" / "parity.parquet")
    result = reference_errors(path, model["shards"], hyper, references["runs"],
                              references["summaries"], tmp_path / "out.json")
    assert result["reference_current"] is None
    assert set(result["reference_force_rmse"]) == {"2", "2.5"}
