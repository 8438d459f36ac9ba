"""The Snakemake pipeline: lint, formatting, dry-run job lists, the whole chain on a tiny
config, and re-run semantics after a config change."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from holstein.device import gpu_driver_absent
from holstein.ml.committee_file import read_committee_file

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
SCHEMA_MODEL = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml")
                              .read_text())["properties"]["model"]["properties"]
N_TINY_MEMBERS = yaml.safe_load(TINY.read_text())["model"]["committee"]
# What a new committee re-runs on the transfer lattice: its ML runs (2 biases x 1 seed),
# their analyses, the transfer validation and the model's error beside the floor.
TINY_TRANSFER_ML = {"transfer_run": 2, "analyse_transfer_run": 2,
                    "reference_errors_transfer": 1, "validate_transfer": 1,
                    "locality_metrics": 1}


def snakemake(*args, configs=(), cwd=ROOT, timeout=900, root=ROOT):
    """Run Snakemake on the Snakefile of checkout ``root`` from ``cwd`` (outputs in ``cwd``).

    ``configs`` are merged over the default config.yaml, later ones winning.
    """
    configfiles = ["--configfile", str(root / "config.yaml"), *map(str, configs)]
    cmd = [*SNAKEMAKE, "--snakefile", str(root / "Snakefile"), *args, *configfiles]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def checkout_copy(dest: Path) -> Path:
    """A copy of this checkout's workflow and package, to edit without touching the real one."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "src", "profiles", "config", "envs"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def planned_jobs(*configs, cwd=ROOT, root=ROOT):
    """Rule -> job count of a dry run (parsed from the job stats table)."""
    out = snakemake("--dry-run", "--cores", "2", configs=configs, cwd=cwd, root=root)
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


@pytest.mark.skipif(not gpu_driver_absent(),
                    reason="a GPU driver is present: device auto asks torch at the parse")
def test_parsing_the_workflow_loads_no_torch(tmp_path):
    """Every Snakemake invocation parses the workflow (and every SLURM job parses it
    again): the config checks and the device choice must not cost torch's import."""
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "--snakefile",
           str(ROOT / "Snakefile"), "--dry-run", "--cores", "1", "--configfile",
           str(ROOT / "config.yaml")]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=ENV)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    imported = {line.rpartition("|")[2].strip() for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    assert "holstein.pipeline.config" in imported  # the parse was measured
    assert "torch" not in imported


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
    n_members = config["model"].get("committee", SCHEMA_MODEL["committee"]["default"])
    transfer = config["transfer"]
    assert transfer["enabled"]
    n_transfer = len(transfer["biases"]) * len(transfer["seeds"])
    # a coarse and a fine NEGF run per checked bias and validation seed
    n_time_step = 2 * len(config["validation"]["time_step_check"]["biases"]) * len(
        config["validation"]["seeds"])
    jobs = planned_jobs(cwd=tmp_path)
    assert jobs == {
        "negf_training_shard": n_train,
        "train_member": n_members,
        "model_figures": n_members,
        "brownian_run": 2 * n_valid,
        "analyse_run": 2 * n_valid,
        "time_step_run": n_time_step,
        "analyse_time_step_run": n_time_step,
        "reference_errors": 1, "calibrate_committee": 1,
        "validate": 1,
        "transfer_run": 2 * n_transfer,
        "analyse_transfer_run": 2 * n_transfer,
        "reference_errors_transfer": 1,
        "validate_transfer": 1,
        # one floor per NEGF trajectory: training shards and transfer references
        "locality_floor": n_train + n_transfer,
        "locality_metrics": 1,
        "default": 1,
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
    """The tiny pipeline, run in a copy of the checkout (tests may edit its code)."""
    workdir = checkout_copy(tmp_path_factory.mktemp("tiny"))
    out = snakemake("--cores", "2", configs=[TINY], cwd=workdir, root=workdir)
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
    for name in ("wall_velocity", "order_decay", "kymographs", "current", "iv_curve",
                 "paired_differences"):
        assert (results / "validation" / f"{name}.png").stat().st_size > 1000
    # what the machine measured, apart from the results
    assert (results / "cost" / "validation" / "cost.png").stat().st_size > 1000
    assert "integration loop" in (results / "cost" / "validation" / "cost.html").read_text()
    assert sorted(p.name for p in (results / "validation" / "runs").glob("*.png")) == sorted(
        f"{p}_V{b}_s11.png" for p in ("ML", "NEGF") for b in ("2", "2.5"))
    assert "ML against NEGF per validation bias" in (
        results / "validation" / "metrics.html").read_text()
    for member in range(N_TINY_MEMBERS):
        for name in ("parity", "loss"):
            assert (results / "model" / f"member_{member}" / f"{name}.png").stat().st_size > 1000
        assert (results / "model" / f"member_{member}" / "mlff.pt").exists()
    assert (results / "validation" / "committee_deviation.png").stat().st_size > 1000
    metrics = json.loads((results / "validation" / "metrics.json").read_text())
    cost = json.loads((results / "cost" / "validation" / "cost.json").read_text())
    for key in ("cost_per_step_seconds", "loop_cost_per_step_seconds"):
        assert set(cost[key]) == {"ml", "negf"}
        assert all(v > 0 and v == v for v in cost[key].values())
    assert cost["speedup_negf_over_ml"] > 0 and cost["loop_speedup_negf_over_ml"] > 0
    assert not {"cost_per_step_seconds", "speedup_negf_over_ml"} & set(metrics)
    for entry in metrics["per_bias"].values():
        assert entry["half_decay_time"]["negf"]["n"] >= 0
    assert len(metrics["model"]) == N_TINY_MEMBERS
    assert [m["hyper"]["seed"] for m in metrics["model"]] == list(range(N_TINY_MEMBERS))
    for member in metrics["model"]:
        for rmse in member["held_out_force_rmse"].values():
            assert 0 <= rmse["relative_rmse"] < 10
    # the committee: the deviation of every reference frame against its error
    committee = metrics["committee"]
    assert committee["members"] == N_TINY_MEMBERS and committee["n_frames"] == 2 * 11
    assert -1 <= committee["spearman_max_deviation"] <= 1
    # ML runs record the deviation on every frame, NEGF runs do not
    ml_table = pq.read_table(results / "runs" / "ml" / "V2_s11.parquet")
    assert {"force_deviation", "force_deviation_max", "force_deviation_mean"} <= set(
        ml_table.column_names)
    assert "force_deviation" not in pq.read_table(
        results / "runs" / "negf" / "V2_s11.parquet").column_names
    ml_csv = pd.read_csv(results / "analysis" / "ml" / "V2_s11.csv")
    assert (ml_csv["force_deviation_max"] > 0).all()
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
        # four epochs on 7 x 6: the plumbing is tested here, the accuracy in tests/ml
        assert math.isfinite(row["relative_rmse"]) and row["n_snapshots"] >= 1
        assert math.isfinite(row["series_relative_rmse"])


def test_the_slurm_runs_output_check_passes_on_the_local_tiny_run(tiny_run):
    """scripts/test_slurm.sh checks its run with this script: it must read today's layout."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_tiny_outputs.py"),
                          str(tiny_run / "results"), str(TINY)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# What a re-run cannot reproduce: Snakemake's benchmark files and the jobs' own
# measurements of the machine (wall times, memory), both kept apart from the results.
MACHINE_MEASUREMENTS = ("benchmarks", "cost")


def test_a_second_clean_run_writes_the_same_bytes(tiny_run, tmp_path):
    """Two clean runs of the tiny config: every result file byte for byte the same, except
    the machine's measurements; and these are where the pipeline puts them."""
    second = checkout_copy(tmp_path)
    out = snakemake("--cores", "2", configs=[TINY], cwd=second, root=second)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]

    def files(root):
        results = root / "results"
        return {p.relative_to(results): p for p in results.rglob("*") if p.is_file()}

    first, again = files(tiny_run), files(second)
    assert set(first) == set(again)
    measured = {k for k in first if k.parts[0] in MACHINE_MEASUREMENTS}
    assert {k.parts[0] for k in measured} == set(MACHINE_MEASUREMENTS)
    differ = sorted(str(k) for k in set(first) - measured
                    if first[k].read_bytes() != again[k].read_bytes())
    assert not differ, f"a re-run changed {differ}"


def test_nothing_to_do_after_a_finished_run(tiny_run):
    assert planned_jobs(TINY, cwd=tiny_run, root=tiny_run) == {}


def test_changing_a_model_hyperparameter_reruns_training_and_downstream_only(tiny_run,
                                                                             tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["channels"] = 6
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run, root=tiny_run)
    n_valid = 2 * 1
    assert jobs == {"train_member": N_TINY_MEMBERS, "model_figures": N_TINY_MEMBERS,
                    "brownian_run": n_valid, "analyse_run": n_valid, "reference_errors": 1,
                    "calibrate_committee": 1, "validate": 1, "large_lattice_run": 1,
                    "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "default": 1, **TINY_TRANSFER_ML}


def test_a_larger_committee_trains_only_the_new_member(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["committee"] = N_TINY_MEMBERS + 1
    changed = tmp_path / "larger.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run, root=tiny_run)
    n_valid = 2 * 1
    assert jobs == {"train_member": 1, "model_figures": 1, "brownian_run": n_valid,
                    "analyse_run": n_valid, "reference_errors": 1, "calibrate_committee": 1,
                    "validate": 1,
                    "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "default": 1, **TINY_TRANSFER_ML}


def test_another_predictor_reruns_the_ml_runs_but_trains_nothing(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["model"]["committee_predictor"] = (
        "first" if SCHEMA_MODEL["committee_predictor"]["default"] == "mean" else "mean")
    changed = tmp_path / "predictor.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run, root=tiny_run)
    assert jobs == {"brownian_run": 2, "analyse_run": 2, "reference_errors": 1,
                    "calibrate_committee": 1, "validate": 1,
                    "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "default": 1, **TINY_TRANSFER_ML}


def test_large_lattice_run_and_report(tiny_run):
    results = tiny_run / "results" / "large_lattice"
    table = pq.read_table(results / "ml_12x8_V2_s21.parquet")
    # Only q, the current and the committee deviation are recorded on a large lattice.
    assert set(table.column_names) == {"step", "time", "bias", "seed", "q", "current",
                                       "force_deviation", "force_deviation_max",
                                       "force_deviation_mean"}
    assert table.num_rows == 11
    meta = json.loads(table.schema.metadata[b"holstein"])
    assert (meta["Lx"], meta["Ly"], meta["bias"], meta["seed"]) == (12, 8, 2.0, 21)
    assert "peak_memory_mb" not in meta  # the machine's measurements are apart
    run_cost = json.loads((tiny_run / "results" / "cost" / "large_lattice"
                           / "ml_12x8_V2_s21.json").read_text())
    assert run_cost["peak_memory_mb"] > 0 and run_cost["seconds_per_step"] > 0
    metrics = json.loads((results / "metrics.json").read_text())
    assert metrics["lattice"] == {"Lx": 12, "Ly": 8}
    # its expected force error: the calibration reference_errors fitted, as the committee
    # file records it beside the members that drove the run
    fitted = json.loads((tiny_run / "results" / "validation" / "reference_errors.json")
                        .read_text())["committee"]["calibration"]
    committee = read_committee_file(tiny_run / "results" / "model" / "committee.json")
    assert committee["member_paths"] == [
        str((tiny_run / "results" / "model" / f"member_{k}" / "mlff.pt").resolve())
        for k in range(N_TINY_MEMBERS)]
    assert committee["calibration"]["scale"] == fitted["scale"] > 0
    assert metrics["expected_force_error"]["scale"] == fitted["scale"]
    # the run names the members that drove it, which the report checks against the file
    assert meta["provider_identity"]["model_sha256"] == [
        m["sha256"] for m in committee["members"]]
    assert set(metrics["small_lattice_wall_velocity"]) == {"ml", "negf"}
    cost = json.loads((tiny_run / "results" / "cost" / "large_lattice" / "cost.json")
                      .read_text())
    assert cost["ml_seconds_per_step"] == run_cost["seconds_per_step"]
    assert cost["job_max_rss_mb"] > 0
    estimate = cost["negf_estimate"]
    assert estimate["measured_sites"] == 42
    # N^3 scaling from 42 to 96 sites.
    assert math.isclose(estimate["seconds_per_step"],
                        estimate["measured_seconds_per_step"] * (96 / 42) ** 3)
    assert (results / "large_lattice.png").stat().st_size > 1000
    assert (results / "committee_deviation.png").stat().st_size > 1000
    deviation = metrics["committee_deviation"]
    trust = yaml.safe_load((ROOT / "config.yaml").read_text())["active_learning"]
    assert (deviation["trust_lo"], deviation["trust_hi"]) == (trust["trust_lo"],
                                                              trust["trust_hi"])
    assert deviation["max_deviation"] > 0
    assert 0 <= deviation["fraction_of_frames_above_trust_lo"] <= 1
    assert not list(results.glob("*.checkpoint.npz"))


def test_transfer_validation_and_locality_floor(tiny_run):
    results = tiny_run / "results"
    for provider in ("ml", "negf"):
        table = pq.read_table(results / "transfer" / "runs" / provider / "V2.5_s11.parquet")
        meta = json.loads(table.schema.metadata[b"holstein"])
        assert (meta["Lx"], meta["Ly"], meta["bias"], meta["seed"]) == (14, 6, 2.5, 11)
        assert table.num_rows == 11
    validation = results / "transfer" / "validation"
    for name in ("wall_velocity", "order_decay", "kymographs", "current", "iv_curve",
                 "committee_deviation", "paired_differences"):
        assert (validation / f"{name}.png").stat().st_size > 1000
    assert (results / "cost" / "transfer" / "validation" / "cost.png").stat().st_size > 1000
    metrics = json.loads((validation / "metrics.json").read_text())
    assert metrics["lattice"] == {"Lx": 14, "Ly": 6}
    assert set(metrics["per_bias"]) == {"2", "2.5"}
    for entry in metrics["per_bias"].values():
        assert {"wall_velocity", "half_decay_time", "late_current"} <= set(entry)
    assert set(metrics["reference_force_rmse"]) == {"2", "2.5"}
    for rmse in metrics["reference_force_rmse"].values():
        assert 0 < rmse["relative_rmse"] < 10 and rmse["n_snapshots"] == 11
    assert -1 <= metrics["committee"]["spearman_max_deviation"] <= 1
    assert json.loads((results / "validation" / "metrics.json").read_text())["lattice"] == {
        "Lx": 7, "Ly": 6}

    floors = json.loads((results / "locality" / "metrics.json").read_text())
    assert floors["radius"] == yaml.safe_load(TINY.read_text())["model"]["cutoff"]
    groups = floors["groups"]
    assert (groups["training"]["lattice"], groups["transfer"]["lattice"]) == ("7 x 6", "14 x 6")
    assert len(groups["training"]["trajectories"]) == 4
    assert len(groups["transfer"]["trajectories"]) == 2
    for group in groups.values():
        for row in group["trajectories"]:
            assert row["floor"] > 0 and row["model_rmse"] > 0
            assert row["model_over_floor"] == pytest.approx(row["model_rmse"] / row["floor"])
            assert len(row["member_rmse"]) == N_TINY_MEMBERS
    # the floor file of one trajectory: its late frames and samples as configured
    one = json.loads((results / "locality" / "transfer" / "runs" / "negf" / "V2_s11.json")
                     .read_text())
    assert (one["first_late_frame"], one["n_late_frames"]) == (4, 7)  # int(0.4 * 11)
    assert one["floors"][0]["n_samples"] == 4


def test_adding_a_training_bias_runs_only_its_shards_and_downstream(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["training_data"]["biases"].append(3.0)
    changed = tmp_path / "more.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run, root=tiny_run)
    assert jobs["negf_training_shard"] == 2  # one per seed of the new bias
    assert jobs["train_member"] == N_TINY_MEMBERS
    assert jobs["brownian_run"] == 2  # ML runs only: the NEGF references do not change


# --------------------------------------------------------------------------------------
# Re-runs: the code a job runs, parameters by value, missing intermediates, recovery
# --------------------------------------------------------------------------------------

# Job log -> the adapter script it ran (workflow/scripts/).
JOB_SCRIPTS = {
    "logs/negf_training/": "simulate_negf.py",
    "logs/runs/negf/": "simulate_negf.py",
    "logs/runs/ml/": "simulate_ml.py",
    "logs/analysis/": "analyse.py",
    "logs/train_member/": "train.py",
    "logs/model_figures/": "model_figures.py",
    "logs/reference_errors": "reference_errors.py",
    "logs/calibrate_committee": "calibrate_committee.py",
    "logs/validate": "validate.py",
    "logs/large_lattice/ml_": "simulate_ml.py",
    "logs/large_lattice/analyse_": "analyse.py",
    "logs/large_lattice/report": "large_lattice.py",
    "logs/initial/": "relax.py",
    "logs/active_learning/explore/": "simulate_ml.py",
    "logs/active_learning/select/": "al_select.py",
    "logs/active_learning/label/": "al_label.py",
    "logs/active_learning/train_member/": "train.py",
    "logs/active_learning/metrics/": "al_metrics.py",
    "logs/active_learning/report": "al_report.py",
    "logs/transfer/runs/negf/": "simulate_negf.py",
    "logs/transfer/runs/ml/": "simulate_ml.py",
    "logs/transfer/analysis/": "analyse.py",
    "logs/transfer/reference_errors": "reference_errors.py",
    "logs/transfer/validate": "validate.py",
    "logs/locality/negf_training/": "locality_floor.py",
    "logs/locality/transfer/": "locality_floor.py",
    "logs/locality/metrics": "locality_metrics.py",
    "logs/time_step/coarse/": "simulate_negf.py",
    "logs/time_step/fine/": "simulate_negf.py",
    "logs/time_step/analysis/": "analyse.py",
}


def job_modules(workdir: Path) -> dict[str, set[str]]:
    """Job log (relative path) -> the package modules that job imported (its last line)."""
    used = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        lines = [ln for ln in log.read_text().splitlines() if "package modules used:" in ln]
        assert lines, f"{log} does not say which package modules the job used"
        used[str(log.relative_to(workdir))] = set(lines[-1].split(":", 3)[-1].split())
    return used


def script_of(log: str) -> str:
    matches = [v for k, v in JOB_SCRIPTS.items() if log.startswith(k)]
    assert len(matches) == 1, log
    return matches[0]


def jobs_with_changed_code(workdir: Path) -> set[str]:
    """Logs of the jobs whose recorded parameters (the code fingerprint among them) differ
    from the current ones: ``--summary`` reports it per output, whatever runs upstream."""
    out = snakemake("--summary", "--cores", "1", configs=[TINY], cwd=workdir, root=workdir)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    return {row[3] for row in rows[1:] if row[4] == "params changed"}


def test_jobs_run_this_checkouts_code(tmp_path):
    """A failing steady state planted in the copy's src/ must fail the job, whatever copy
    of the package is installed."""
    work = checkout_copy(tmp_path)
    with open(work / "src" / "holstein" / "physics" / "negf.py", "a") as fh:
        fh.write('\n\ndef steady_state(*args, **kwargs):\n'
                 '    raise RuntimeError("PLANTED-MARKER")\n')
    out = snakemake("--cores", "1", "results/negf_training/V1.5_s1.parquet", configs=[TINY],
                    cwd=work, root=work)
    assert out.returncode != 0
    assert "PLANTED-MARKER" in (work / "logs" / "negf_training" / "V1.5_s1.log").read_text()
    assert not (work / "results" / "negf_training" / "V1.5_s1.parquet").exists()


def check_fingerprints_cover_the_imports(workdir: Path, used: dict[str, set[str]]) -> None:
    from holstein.pipeline.fingerprint import import_closure

    for log, modules in used.items():
        closure = import_closure(workdir / "workflow" / "scripts" / script_of(log),
                                 root=workdir / "src" / "holstein")
        assert set(closure) == modules, f"{log}: fingerprinted {closure}, imported {modules}"


def test_code_fingerprints_cover_exactly_what_each_job_imported(tiny_run):
    used = job_modules(tiny_run)
    # every job of the tiny run (the target rule "all" has no log): 18 of the validation
    # and the large lattice (the committee's calibration among them), 10 of the transfer
    # stage, 7 of the locality floor, 4 of the time-step check (a coarse and a fine run at
    # one bias and seed, and their analyses)
    assert len(used) == 39 + 2 * N_TINY_MEMBERS
    check_fingerprints_cover_the_imports(tiny_run, used)


def test_parameters_compare_by_value(tiny_run, tmp_path):
    """Key order, defaults written out and 1 for 1.0 change nothing."""
    config = yaml.safe_load(TINY.read_text())
    reordered = {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v)
                 for k, v in reversed(list(config.items()))}
    reordered["physics"] = {"K": 1, "g": 1.5, "bias_scheme": "gated"}
    reordered["lattice"] = {"Ly": 6, "Lx": 7}
    path = tmp_path / "reordered.yaml"
    path.write_text(yaml.safe_dump(reordered, sort_keys=False))
    assert planned_jobs(path, cwd=tiny_run, root=tiny_run) == {}


def _edit(path: Path, text: str):
    original = path.read_text()
    path.write_text(original + text)
    return original


def test_comment_and_docstring_edits_rerun_nothing(tiny_run):
    module = tiny_run / "src" / "holstein" / "physics" / "observables.py"
    original = module.read_text()
    try:
        module.write_text(original.replace('"""', '"""Edited docstring. ', 1)
                          + "\n# a comment\n")
        assert jobs_with_changed_code(tiny_run) == set()
        assert planned_jobs(TINY, cwd=tiny_run, root=tiny_run) == {}
    finally:
        module.write_text(original)


def test_a_code_edit_reruns_exactly_the_jobs_that_import_it(tiny_run):
    """For every module: add a function; the jobs whose code fingerprint changes are
    exactly those whose logs say they imported the module (their dependants re-run too,
    for their inputs)."""
    used = job_modules(tiny_run)
    package = tiny_run / "src" / "holstein"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        expected = {log for log, modules in used.items() if module in modules}
        original = _edit(path, "\n\ndef _probe_for_reruns():\n    return 1\n")
        try:
            changed = jobs_with_changed_code(tiny_run)
        finally:
            path.write_text(original)
        assert changed == expected, (
            f"editing {module}: code changed for {sorted(changed - expected)} beyond its "
            f"importers, missed {sorted(expected - changed)}"
        )


def test_a_deleted_intermediate_is_rebuilt_with_everything_downstream(tiny_run):
    shard = tiny_run / "results" / "negf_training" / "V1.5_s1.parquet"
    saved = shard.read_bytes()
    shard.unlink()
    try:
        jobs = planned_jobs(TINY, cwd=tiny_run, root=tiny_run)
    finally:
        shard.write_bytes(saved)
        os.utime(shard, (0, 0))  # older than everything: the run stays complete
    assert jobs == {"negf_training_shard": 1, "train_member": N_TINY_MEMBERS,
                    "model_figures": N_TINY_MEMBERS, "brownian_run": 2, "analyse_run": 2,
                    "reference_errors": 1, "calibrate_committee": 1, "validate": 1,
                    "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "default": 1, **TINY_TRANSFER_ML,
                    "locality_floor": 1}  # the floor of the rebuilt shard only


def test_orphaned_run_checkpoints_are_removed(tiny_run):
    orphan = tiny_run / "results" / "runs" / "negf" / "V2_s11.parquet.checkpoint.npz"
    orphan.write_bytes(b"left by a killed job before its config was reverted")
    resumable = tiny_run / "results" / "runs" / "negf" / "V9_s11.parquet.checkpoint.npz"
    resumable.write_bytes(b"its run has not finished")
    try:
        # the cleanup runs after a successful run of jobs (Snakemake skips onsuccess when
        # there is nothing to do), as after the re-run that follows a revert
        out = snakemake("--cores", "1", "--forcerun", "validate", configs=[TINY], cwd=tiny_run,
                        root=tiny_run)
        assert out.returncode == 0, out.stderr[-2000:]
        assert not orphan.exists()
        assert resumable.exists()
    finally:
        orphan.unlink(missing_ok=True)
        resumable.unlink(missing_ok=True)


def test_a_lattice_that_cannot_fit_is_refused_before_any_job(tmp_path):
    big = tmp_path / "big.yaml"
    # the transfer lattice off: its check (Lx >= 2 lattice.Lx) would refuse it first
    big.write_text("lattice: {Lx: 4000, Ly: 4000}\ntransfer: {enabled: false}\n")
    out = snakemake("--dry-run", "--cores", "1", configs=[big], cwd=tmp_path)
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "GiB" in message and "lattice.Lx" in message, message[-2000:]
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------------------
# The device of every job, decided where it is planned
# --------------------------------------------------------------------------------------

# Runs Snakemake's own command line in a fresh interpreter after simulating the machine
# (a GPU present or not) and the executor (a cluster's submit host: no local execution).
PLANNING = """
import sys
import holstein.device as device
gpu = {gpu!r}
if gpu is not None:
    device.cuda_available = lambda: gpu
    device.gpu_memory_mb = lambda: 80_000
if {submit_host!r}:
    # What the workflow's own files read is a non-local executor's setting; Snakemake's
    # dry run itself keeps local execution (it would wait for the jobs' files otherwise).
    import snakemake.api  # noqa: F401 (imports snakemake.workflow in its own order)
    from snakemake.workflow import Workflow
    local = Workflow.local_exec.fget
    Workflow.local_exec = property(lambda self: local(self) and not sys._getframe(1)
                                   .f_code.co_filename.endswith((".smk", "Snakefile")))
from snakemake.cli import main
sys.argv = ["snakemake", *{args!r}]
main()
"""


def planned_gpus(tmp_path, *args, gpu=None, submit_host=False, device="cuda", configs=(),
                 dry_run=True):
    """(rule, provider) -> the gpu resources of its jobs in a forced dry run of the default
    config (over it ``configs``) with ``device``; the completed process on failure."""
    files = ["--configfile", str(ROOT / "config.yaml"), *map(str, configs)]
    argv = ["--snakefile", str(ROOT / "Snakefile"), *(["--dry-run"] if dry_run else []),
            "--forceall", "--cores", "1", *files, "--config", f"device={device}", *args]
    code = PLANNING.format(gpu=gpu, submit_host=submit_host, args=argv)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=ENV)
    if out.returncode != 0:
        return out
    gpus, rule, provider = {}, None, None
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("rule ") and line.endswith(":"):
            rule, provider = line[5:-1], None
        elif line.startswith("wildcards:") and "provider=" in line:
            provider = line.split("provider=")[1].split(",")[0]
        elif line.startswith("resources:") and rule:
            fields = dict(f.split("=", 1) for f in line[10:].split(", ") if "=" in f)
            gpus.setdefault((rule, provider), set()).add(int(fields.get("gpu", 0)))
    return gpus


# Jobs that can use a GPU on the default lattice (16 x 14: NEGF stays on the CPU).
ML_GPU_JOBS = {("brownian_run", "ml"), ("transfer_run", "ml"), ("train_member", None)}


def check_gpu_jobs(gpus, expected_gpu_jobs):
    assert isinstance(gpus, dict), gpus.stdout[-1500:] + gpus.stderr[-1500:]
    assert ("negf_training_shard", None) in gpus and ("brownian_run", "negf") in gpus
    for job, values in gpus.items():
        assert values == {int(job in expected_gpu_jobs)}, (job, values)


def test_cuda_on_a_cluster_job_step_without_a_gpu_plans_every_cpu_job(tmp_path):
    """A SLURM job parses the workflow again on its compute node (``--mode remote``); with
    device: cuda, on a node without a GPU, every CPU job is still planned on the CPU."""
    check_gpu_jobs(planned_gpus(tmp_path, "--mode", "remote", gpu=False), ML_GPU_JOBS)


def test_cuda_on_a_cluster_submit_host_requests_gpus_for_the_ml_jobs_only(tmp_path):
    check_gpu_jobs(planned_gpus(tmp_path, gpu=False, submit_host=True), ML_GPU_JOBS)


@pytest.mark.parametrize("mode", [[], ["--mode", "remote"]])
def test_auto_on_a_cluster_never_requests_a_gpu(tmp_path, mode):
    """Where the jobs do not run on this machine 'auto' cannot know their nodes: it is
    the CPU, on the submit host and on a node that has a GPU alike."""
    check_gpu_jobs(planned_gpus(tmp_path, *mode, gpu=True, submit_host=not mode,
                                device="auto"), set())


def test_auto_on_a_local_gpu_puts_only_the_jobs_that_can_use_it_there(tmp_path):
    check_gpu_jobs(planned_gpus(tmp_path, gpu=True, device="auto"), ML_GPU_JOBS)


def test_cuda_planned_locally_without_a_gpu_stops_before_any_job(tmp_path):
    out = planned_gpus(tmp_path, gpu=False, configs=[TINY], dry_run=False)
    assert not isinstance(out, dict)
    message = out.stdout + out.stderr
    assert "torch sees no GPU" in message and "device: cpu" in message, message[-2000:]
    assert not (tmp_path / "results").exists()


def test_a_local_dry_run_with_cuda_and_no_gpu_only_warns(tmp_path):
    """It may preview a cluster submission: the plan is the one the cluster would get."""
    gpus = planned_gpus(tmp_path, gpu=False)
    check_gpu_jobs(gpus, ML_GPU_JOBS)


def test_summary_of_a_cuda_run_works_on_a_node_without_a_gpu(tmp_path):
    """--summary (like --report) plans without an executor: a login node without a GPU
    must still read the plan of a cluster run with device: cuda."""
    if not gpu_driver_absent():
        pytest.skip("a GPU driver is present")
    out = snakemake("--summary", "--cores", "1", "--config", "device=cuda", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "A local run would stop here" in out.stderr


def test_an_negf_job_planned_with_device_cuda_runs_on_a_node_without_a_gpu(tmp_path):
    """The job step itself, not only its plan: an NEGF shard of the tiny config, run as
    a cluster job with device: cuda, completes on this machine's CPU."""
    if not gpu_driver_absent():
        pytest.skip("a GPU driver is present")
    target = "results/negf_training/V1.5_s1.parquet"
    out = snakemake(target, "--mode", "remote", "--cores", "1", "--config", "device=cuda",
                    configs=[TINY], cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (tmp_path / target).exists()


def test_a_lattice_whose_negf_cannot_fit_on_the_gpu_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("lattice: {Lx: 150, Ly: 150}\ntransfer: {enabled: false}\n"
                   "large_lattice: {enabled: false}\n")
    # the host is granted enough (--resources), the faked 80 GB GPU is not
    out = planned_gpus(tmp_path, "--resources", "mem_mb=400000", gpu=True, configs=[big],
                       device="auto")
    assert not isinstance(out, dict)
    message = out.stdout + out.stderr
    assert "GPU memory" in message and "device: cpu" in message, message[-2000:]


RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))


def test_every_rule_that_declares_a_gpu_hands_its_device_to_the_stage():
    """A rule with a gpu resource has a device param from the same decision, and its
    adapter passes it on: no job holds a GPU it does not use."""

    for path in RULES:
        text = path.read_text()
        for block in re.split(r"\n(?=rule |use rule )", text):
            if "gpu=" not in block or not block.startswith(("rule ", "use rule ")):
                continue
            name = block.split()[1] if block.startswith("rule") else block.split()[4]
            assert "device=device_of(" in block or "device=lambda wc: device_of(" in block, \
                name
            script = re.search(r'"\.\./scripts/(\w+\.py)"', block)
            if script:
                adapter = (ROOT / "workflow" / "scripts" / script.group(1)).read_text()
                assert "device=p.device" in adapter or "device=sm.params.device" in adapter, \
                    (name, script.group(1))


def test_the_workflow_deploys_as_a_module(tmp_path):
    """As snakedeploy deploys it: the deploying directory has its own copy of config/ and a
    Snakefile that uses workflow/Snakefile as a module; a dry run plans the whole chain."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        "module holstein:\n"
        f'    snakefile:\n        "{ROOT / "workflow" / "Snakefile"}"\n'
        "    config:\n        config\n\n\n"
        "use rule * from holstein as holstein_*\n"
    )
    out = subprocess.run([*SNAKEMAKE, "--dry-run", "--cores", "1", "holstein_all"],
                         cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "holstein_negf_training_shard" in out.stdout
    assert "holstein_validate" in out.stdout
    assert not (tmp_path / "results").exists()


def test_catalog_files_exist():
    for name in ("workflow/Snakefile", "config/config.yaml", "config/README.md",
                 ".snakemake-workflow-catalog.yml", "LICENSE"):
        assert (ROOT / name).is_file(), name
    assert (ROOT / "config.yaml").resolve() == (ROOT / "config" / "config.yaml").resolve()


def test_changing_the_integrator_reruns_every_brownian_run_and_downstream(tiny_run, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["dynamics"] = {"integrator": "euler-maruyama"}  # the default is the other one
    changed = tmp_path / "em.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(changed, cwd=tiny_run, root=tiny_run)
    n_train, n_valid, n_transfer = 2 * 2, 2 * 1, 2 * 1
    assert jobs == {"negf_training_shard": n_train, "train_member": N_TINY_MEMBERS,
                    "model_figures": N_TINY_MEMBERS, "reference_errors": 1,
                    "calibrate_committee": 1,
                    "brownian_run": 2 * n_valid, "analyse_run": 2 * n_valid, "validate": 1,
                    "large_lattice_run": 1, "analyse_large_lattice_run": 1,
                    "large_lattice_report": 1, "default": 1, "transfer_run": 2 * n_transfer,
                    "analyse_transfer_run": 2 * n_transfer, "reference_errors_transfer": 1,
                    "validate_transfer": 1, "locality_floor": n_train + n_transfer,
                    "locality_metrics": 1, "time_step_run": 2, "analyse_time_step_run": 2}


def test_relaxed_start_is_computed_once_per_lattice_and_starts_the_runs(tmp_path):
    from holstein.physics.initial import RESIDUAL_TOLERANCE, load_relaxed_state

    config = yaml.safe_load(TINY.read_text())
    config["dynamics"] = {"initial": "relaxed"}
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(relaxed, cwd=tmp_path)
    # the 7 x 6 lattice, the 12 x 8 large one and the 14 x 6 transfer one
    assert jobs["relax_initial_state"] == 3
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
    # 12 x 8 and 14 x 6 ones, never built here, are still to do).
    config["dynamics"]["dt"] = 0.05
    relaxed.write_text(yaml.safe_dump(config))
    assert planned_jobs(relaxed, cwd=tmp_path)["relax_initial_state"] == 2


# --------------------------------------------------------------------------------------
# The report and the model's provenance (last: they re-run part of the tiny run)
# --------------------------------------------------------------------------------------

def test_the_report_carries_the_description_tables_and_labels(tiny_run, tmp_path):
    report = tmp_path / "report.zip"
    out = snakemake("--report", str(report), configs=[TINY], cwd=tiny_run, root=tiny_run)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with zipfile.ZipFile(report) as archive:
        names = archive.namelist()
        text = "\n".join(archive.read(n).decode("utf-8", "replace") for n in names
                         if n.endswith((".html", ".js")))
    assert "System Message" not in text  # every caption is valid reStructuredText
    # the workflow description, rendered with this run's configuration
    assert "Holstein CDW insulator between electrodes" in text
    assert "7 x 6" in text and "model units" in text.lower()
    # the metrics as a table in the report itself, with its caption
    assert "ML against NEGF per validation bias" in text
    assert "Every number of the validation as tables" in text
    # labels: provider, bias and seed of every run's figure
    for label in ("provider", "bias", "seed", "NEGF", "force parity"):
        assert f'"{label}"' in text or f"'{label}'" in text, label
    assert any(n.endswith("NEGF_V2.5_s11.png") for n in names)
    # the transfer validation, its captions naming its own lattice
    assert '"Transfer"' in text or "'Transfer'" in text
    assert "14 x 6 lattice" in text


def test_a_checkpoint_from_another_run_is_refused(tiny_run, tmp_path):
    """A model trained on other shards, copied over this run's, is not validated."""
    from holstein.ml.checkpoint import read_checkpoint
    from holstein.stages.train import train_from_shards

    results = tiny_run / "results"
    checkpoint = results / "model" / "member_0" / "mlff.pt"
    shards = sorted((results / "negf_training").glob("*.parquet"))
    foreign = tmp_path / "other_run" / "mlff.pt"
    train_from_shards(shards[1:], read_checkpoint(checkpoint)["hyper"], foreign,
                      tmp_path / "other_run" / "metrics.json",
                      tmp_path / "other_run" / "parity.parquet")
    saved, stat = checkpoint.read_bytes(), checkpoint.stat()
    shutil.copy(foreign, checkpoint)
    try:
        out = snakemake("--cores", "1", "results/validation/reference_errors.json",
                        configs=[TINY], cwd=tiny_run, root=tiny_run)
        assert out.returncode != 0
        log = (tiny_run / "logs" / "reference_errors.log").read_text()
        assert "ProvenanceError" in log, log[-3000:]
        assert f"{shards[0].name}: a training shard of this run, not used to train" in log
        assert "--forcerun train_member" in log
    finally:
        checkpoint.write_bytes(saved)
        os.utime(checkpoint, (stat.st_atime, stat.st_mtime))
        out = snakemake("--cores", "2", configs=[TINY], cwd=tiny_run, root=tiny_run)
        assert out.returncode == 0, out.stderr[-2000:]


# --------------------------------------------------------------------------------------
# Active learning (last: a copy of the finished tiny run, one iteration on top of it)
# --------------------------------------------------------------------------------------

TINY_AL = ROOT / "tests" / "data" / "tiny_al.yaml"


def al_config(tmp_path: Path, iterations: int) -> Path:
    config = yaml.safe_load(TINY_AL.read_text())
    config["active_learning"]["iterations"] = iterations
    path = tmp_path / f"al_{iterations}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def al_jobs_per_iteration() -> dict[str, int]:
    al = yaml.safe_load(TINY_AL.read_text())["active_learning"]
    explore = al["explore"]
    return {"al_explore": len(explore["biases"]) * len(explore["seeds"]), "al_select": 1,
            "al_label": -(-al["frames_per_iteration"] // al["frames_per_label_job"]),
            "al_train_member": N_TINY_MEMBERS, "al_metrics": 1}


def test_active_learning_plans_each_iteration_and_drives_the_ml_runs_with_the_last(tmp_path):
    iterations = yaml.safe_load(TINY_AL.read_text())["active_learning"]["iterations"]
    jobs = planned_jobs(TINY, TINY_AL, cwd=tmp_path)
    base = planned_jobs(TINY, cwd=tmp_path)
    per = al_jobs_per_iteration()
    assert jobs == base + Counter({k: iterations * n for k, n in per.items()}) + Counter(
        {"al_metrics": 1, "al_report": 1})  # the metrics of iteration 0, and the report
    out = snakemake("--dry-run", "--cores", "1", "results/runs/ml/V2_s11.parquet",
                    configs=[TINY, TINY_AL], cwd=tmp_path)
    assert f"results/active_learning/iter_{iterations}/model/member_0/mlff.pt" in out.stdout


@pytest.fixture(scope="module")
def tiny_al_run(tiny_run, tmp_path_factory):
    """A copy of the finished tiny run with one iteration of active learning on top."""
    workdir = tmp_path_factory.mktemp("tiny_al") / "work"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    config = al_config(workdir, 1)
    out = snakemake("--cores", "2", configs=[TINY, config], cwd=workdir, root=workdir)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    return workdir, config


def test_an_iteration_labels_candidates_and_retrains_the_committee(tiny_al_run):
    workdir, _ = tiny_al_run
    al = yaml.safe_load(TINY_AL.read_text())["active_learning"]
    summary = json.loads((workdir / "results" / "active_learning" / "summary.json")
                         .read_text())
    rows = summary["iterations"]
    assert [r["iteration"] for r in rows] == [0, 1]
    selection = rows[1]["exploration"]
    assert selection["frames"] == selection["accurate"] + selection["candidate"] + \
        selection["failed"]
    assert rows[1]["labels"] == min(al["frames_per_iteration"], selection["candidate"]) > 0
    assert rows[1]["negf_solves_for_training"] == \
        rows[0]["negf_solves_for_training"] + rows[1]["labels"]
    assert (workdir / "results" / "active_learning" / "active_learning.png").stat().st_size > 1000
    # the validation now uses the iteration's committee, trained on the labels too
    reference = json.loads((workdir / "results" / "validation" / "reference_errors.json")
                           .read_text())
    assert all("active_learning/iter_1/model" in c for c in reference["checkpoints"])
    # each member starts from its predecessor's weights, with the short schedule
    from holstein.ml.checkpoint import read_checkpoint
    from holstein.ml.training.trainer import state_digest
    for member in range(N_TINY_MEMBERS):
        before = read_checkpoint(workdir / "results" / "model" / f"member_{member}" / "mlff.pt")
        after = read_checkpoint(workdir / "results" / "active_learning" / "iter_1" / "model"
                                / f"member_{member}" / "mlff.pt")
        assert after["init_model"] == state_digest(before["state_dict"])
        assert after["normalisation"] == before["normalisation"]
        assert after["hyper"]["epochs"] == al["retrain"]["epochs"] < before["hyper"]["epochs"]
    used = {log: m for log, m in job_modules(workdir).items()
            if log.startswith("logs/active_learning/")}
    assert {log.split("/")[2] for log in used} == {
        "explore", "select", "label", "train_member", "metrics", "report.log"}
    check_fingerprints_cover_the_imports(workdir, used)


def test_a_scratch_retraining_starts_from_random_weights(tiny_al_run, tmp_path):
    """retrain.start: scratch retrains the iteration's members with the model section's
    own schedule and no initial checkpoint."""
    from holstein.ml.checkpoint import read_checkpoint

    workdir = tmp_path / "work"
    shutil.copytree(tiny_al_run[0], workdir, symlinks=True)
    config = tmp_path / "scratch.yaml"
    al = yaml.safe_load(tiny_al_run[1].read_text())
    al["active_learning"]["retrain"] = {"start": "scratch"}
    config.write_text(yaml.safe_dump(al))
    target = "results/active_learning/iter_1/model/member_0/mlff.pt"
    out = snakemake("--cores", "2", target, configs=[TINY, config], cwd=workdir, root=workdir)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "rule al_train_member" in out.stdout + out.stderr
    ckpt = read_checkpoint(workdir / target)
    tiny_model = yaml.safe_load(TINY.read_text())["model"]
    assert ckpt["init_model"] is None and ckpt["hyper"]["epochs"] == tiny_model["epochs"]


def test_raising_iterations_runs_only_the_new_iteration(tiny_al_run, tmp_path):
    workdir, _ = tiny_al_run
    jobs = planned_jobs(TINY, al_config(tmp_path, 2), cwd=workdir, root=workdir)
    per = al_jobs_per_iteration()
    # iteration 2, the report, and what the new committee drives (the base committee and
    # iteration 1 stay as they are)
    assert jobs == Counter(per) + Counter({
        "al_report": 1, "brownian_run": 2, "analyse_run": 2, "reference_errors": 1,
        "calibrate_committee": 1,
        "validate": 1, "large_lattice_run": 1, "analyse_large_lattice_run": 1,
        "large_lattice_report": 1, "default": 1, **TINY_TRANSFER_ML})
    assert planned_jobs(TINY, al_config(tmp_path, 1), cwd=workdir, root=workdir) == {}


def profile_without_executor(profile, folder):
    """The profile's settings less the executor and its plugin's options, so that a dry
    run needs no SLURM plugin (the test command does not install it)."""
    settings = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())
    kept = {key: value for key, value in settings.items()
            if key != "executor" and not key.startswith("slurm-")}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(kept))
    return str(folder)


@pytest.mark.parametrize(("profile", "args", "threads"), [
    (None, ("--cores", "4"), 2),   # two members side by side
    ("slurm", (), 8),              # its share of 16
    ("slurm-ci", (), 1),           # its share of 2
])
def test_a_committee_member_trains_on_its_share_of_the_cores(tmp_path, profile, args,
                                                              threads):
    """The threads follow from the cores alone: no profile repeats them."""
    if profile is not None:
        args = ("--workflow-profile", profile_without_executor(profile, tmp_path / profile))
    out = snakemake("--dry-run", *args, "results/model/member_0/mlff.pt", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    block = out.stdout[out.stdout.index("rule train_member:"):]
    block = block[:block.index("resources:")]
    shown = re.search(r"threads: (\d+)", block)  # Snakemake shows no thread count of 1
    assert (int(shown.group(1)) if shown else 1) == threads


@pytest.mark.parametrize("profile", ["slurm", "slurm-ci"])
def test_slurm_profiles_that_group_jobs_cap_the_cpus_of_a_job(profile):
    """Snakemake asks for a group's summed threads unless --cores caps them (then it runs
    the group in layers): an uncapped group of 64 analyses would ask for 64 CPUs, more
    than a node has, and SLURM would hold it forever (reason PartitionConfig)."""
    settings = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())
    assert settings["executor"] == "slurm"
    if settings.get("groups"):
        widest = max(int(n.split("=")[1]) for n in settings["group-components"])
        assert 1 <= settings["cores"] < widest
        threads = settings.get("set-threads", {})
        assert all(n <= settings["cores"] for n in threads.values()), threads
