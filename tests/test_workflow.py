"""The Snakemake pipeline: lint, formatting, dry-run job lists, the whole chain on a tiny
config, and re-run semantics after a config change."""

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def snakemake(*args, configs=(), cwd=ROOT, timeout=900):
    """Run Snakemake on this checkout's Snakefile from ``cwd`` (outputs land in ``cwd``).

    ``configs`` are merged over the default config.yaml, later ones winning.
    """
    configfiles = ["--configfile", str(ROOT / "config.yaml"), *map(str, configs)]
    cmd = [*SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), *args, *configfiles]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def planned_jobs(*configs, cwd=ROOT):
    """Rule -> job count of a dry run (parsed from the job stats table)."""
    out = snakemake("--dry-run", "--cores", "2", configs=configs, cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    counts = Counter()
    in_table = False
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
        elif in_table and parts and parts[0] == "total":
            break
    return counts


def test_lint_is_clean():
    out = snakemake("--lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_snakefmt_is_clean():
    snakefmt = shutil.which("snakefmt") or str(Path(sys.executable).parent / "snakefmt")
    out = subprocess.run([snakefmt, "--check", "Snakefile", "workflow"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_default_dry_run_lists_the_expected_jobs(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_train = len(config["training_data"]["biases"]) * len(config["training_data"]["seeds"])
    n_valid = len(config["validation"]["biases"]) * len(config["validation"]["seeds"])
    jobs = planned_jobs(cwd=tmp_path)
    assert jobs == {
        "negf_training_shard": n_train,
        "train_model": 1,
        "brownian_run": 2 * n_valid,
        "analyse_run": 2 * n_valid,
        "validate": 1,
        "all": 1,
    }


def test_bad_config_stops_before_any_job_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("physics: {gama: 1.0}\n")
    out = snakemake("--dry-run", "--cores", "1", configs=[bad], cwd=tmp_path)
    assert out.returncode != 0
    assert "gama" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    out = snakemake("--cores", "2", configs=[TINY], cwd=workdir)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return workdir


def test_tiny_chain_produces_every_output(tiny_run):
    results = tiny_run / "results"
    shard = results / "negf_training" / "V1.5_s1.parquet"
    table = pq.read_table(shard)
    for column in ("step", "time", "bias", "seed", "q", "force", "density",
                   "bond_current_x", "bond_current_y", "current"):
        assert column in table.column_names
    meta = json.loads(table.schema.metadata[b"holstein"])
    assert (meta["Lx"], meta["Ly"], meta["bias"], meta["seed"]) == (7, 6, 1.5, 1)
    assert meta["physics"]["gamma"] == 1.0 and "version" in meta

    for provider in ("ml", "negf"):
        for bias in ("2", "2.5"):
            series = pd.read_csv(results / "analysis" / provider / f"V{bias}_s11.csv")
            assert {"time", "order_parameter", "wall_position", "current"} <= set(series)
    for name in ("wall_velocity", "order_decay", "kymographs", "current", "iv_curve", "cost"):
        assert (results / "validation" / f"{name}.png").stat().st_size > 1000
    assert (results / "model" / "mlff.pt").exists()
    metrics = json.loads((results / "validation" / "metrics.json").read_text())
    costs = metrics["cost_per_step_seconds"]
    assert all(v > 0 and v == v for v in costs.values())
    for entry in metrics["per_bias"].values():
        assert entry["half_decay_time"]["negf"]["n"] >= 0
    assert metrics["speedup_negf_over_ml"] > 0
    for rmse in metrics["model"]["held_out_force_rmse"].values():
        assert 0 <= rmse["relative_rmse"] < 10
    reference = metrics["reference_force_rmse"]
    assert set(reference) == {"2", "2.5"}  # every validation bias, from the NEGF runs
    for rmse in reference.values():
        assert 0 < rmse["relative_rmse"] < 10 and rmse["n_snapshots"] == 11
    # The default config trains bond-current heads: ML runs report the device current.
    for provider in ("ml", "negf"):
        summary = json.loads((results / "analysis" / provider / "V2_s11.json").read_text())
        assert math.isfinite(summary["late_current"]) and summary["late_current"] > 0
    ml_series = pd.read_csv(results / "analysis" / "ml" / "V2_s11.csv")
    # learned bond currents are not exactly conserved: a finite, positive spread
    assert np.isfinite(ml_series["kirchhoff_spread"]).all()
    assert (ml_series["kirchhoff_spread"] > 0).all()
    negf_series = pd.read_csv(results / "analysis" / "negf" / "V2_s11.csv")
    assert (negf_series["kirchhoff_spread"] < 1e-10).all()  # exact NEGF currents are
    # ... and read in series they give the same current (to the CSV's 8 digits)
    np.testing.assert_allclose(negf_series["series_current"], negf_series["current"],
                               rtol=1e-7)
    assert (ml_series["series_current"] <= ml_series["current"].clip(lower=0) + 1e-7).all()
    for entry in metrics["per_bias"].values():
        assert entry["late_current"]["ml"]["n"] == 1
        assert {"initial_current", "switching_time", "series_late_current",
                "series_switching_time"} <= set(entry)
    currents = metrics["reference_current"]
    assert set(currents) <= {"2", "2.5"} and currents
    for row in currents.values():
        # four epochs on 7 x 6: the plumbing is tested here, the accuracy in test_mlff
        assert math.isfinite(row["relative_rmse"]) and row["n_snapshots"] >= 1
        assert math.isfinite(row["series_relative_rmse"])


def test_nothing_to_do_after_a_finished_run(tiny_run):
    assert planned_jobs(TINY, cwd=tiny_run) == {}


def test_changing_a_model_hyperparameter_reruns_training_and_downstream_only(tiny_run,
                                                                             tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["channels"] = 6
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run)
    n_valid = 2 * 1
    assert jobs == {"train_model": 1, "brownian_run": n_valid, "analyse_run": n_valid,
                    "validate": 1, "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "all": 1}


def test_large_lattice_run_and_report(tiny_run):
    results = tiny_run / "results" / "large_lattice"
    table = pq.read_table(results / "ml_12x8_V2_s21.parquet")
    # Only q and the current are recorded on a large lattice.
    assert set(table.column_names) == {"step", "time", "bias", "seed", "q", "current"}
    assert table.num_rows == 11
    meta = json.loads(table.schema.metadata[b"holstein"])
    assert (meta["Lx"], meta["Ly"], meta["bias"], meta["seed"]) == (12, 8, 2.0, 21)
    assert meta["peak_memory_mb"] > 0
    metrics = json.loads((results / "metrics.json").read_text())
    assert metrics["lattice"] == {"Lx": 12, "Ly": 8}
    assert metrics["ml_seconds_per_step"] > 0 and metrics["job_max_rss_mb"] > 0
    assert set(metrics["small_lattice_wall_velocity"]) == {"ml", "negf"}
    estimate = metrics["negf_estimate"]
    assert estimate["measured_sites"] == 42
    # N^3 scaling from 42 to 96 sites.
    assert math.isclose(estimate["seconds_per_step"],
                        estimate["measured_seconds_per_step"] * (96 / 42) ** 3)
    assert (results / "large_lattice.png").stat().st_size > 1000
    assert not list(results.glob("*.checkpoint.npz"))


def test_adding_a_training_bias_runs_only_its_shards_and_downstream(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["training_data"]["biases"].append(3.0)
    changed = tmp_path / "more.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run)
    assert jobs["negf_training_shard"] == 2  # one per seed of the new bias
    assert jobs["train_model"] == 1
    assert jobs["brownian_run"] == 2  # ML runs only: the NEGF references do not change


def test_changing_the_integrator_reruns_every_brownian_run_and_downstream(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["dynamics"] = {"integrator": "euler-maruyama"}  # the default is the other one
    changed = tmp_path / "em.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run)
    n_train, n_valid = 2 * 2, 2 * 1
    assert jobs == {"negf_training_shard": n_train, "train_model": 1,
                    "brownian_run": 2 * n_valid, "analyse_run": 2 * n_valid, "validate": 1,
                    "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "all": 1}


def test_relaxed_start_is_computed_once_per_lattice_and_starts_the_runs(tmp_path):
    from holstein.initial import RESIDUAL_TOLERANCE, load_relaxed_state

    config = yaml.safe_load(TINY.read_text())
    config["dynamics"] = {"initial": "relaxed"}
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(relaxed, cwd=tmp_path)
    assert jobs["relax_initial_state"] == 2  # the 7 x 6 lattice and the 12 x 8 large one
    assert jobs["brownian_run"] == 4 and jobs["negf_training_shard"] == 4

    target = "results/runs/negf/V2_s11.parquet"
    out = snakemake("--cores", "2", target, configs=[TINY, relaxed], cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    start_file = tmp_path / "results" / "initial" / "relaxed_7x6.npz"
    with np.load(start_file) as data:
        assert json.loads(str(data["meta"]))["residual"] <= RESIDUAL_TOLERANCE
    start = load_relaxed_state(start_file, {"Lx": 7, "Ly": 6},
                               {**yaml.safe_load((ROOT / "config.yaml").read_text())["physics"]})
    table = pq.read_table(tmp_path / target)
    first = np.asarray(table.column("q")[0].as_py()).reshape(7, 6)
    np.testing.assert_array_equal(first, start)
    assert json.loads(table.schema.metadata[b"holstein"])["dynamics"]["initial"] == "relaxed"
    # A time-step change re-runs the runs but not the relaxation of 7 x 6 (only the
    # 12 x 8 one of the large lattice, never built here, is still to do).
    config["dynamics"]["dt"] = 0.05
    relaxed.write_text(yaml.safe_dump(config))
    assert planned_jobs(relaxed, cwd=tmp_path)["relax_initial_state"] == 1
