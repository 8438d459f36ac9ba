"""Active learning (``holstein.ml.active_learning``, stages ``al_*``): classes, selection,
labels, metrics.

Synthetic exploration runs whose frame deviations are set by hand make every count a
closed form; labels are checked against the NEGF steady state computed directly; the
shards of one selection partition it; a label shard is a training shard whose frames
are grouped by bias and seed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from schema_defaults import DEFAULTS

from holstein.data.io import read_trajectory, write_trajectory
from holstein.data.records import Trajectory
from holstein.data.shards import load_shards
from holstein.ml.active_learning import CLASSES, classify, negf_solves
from holstein.ml.calibration import fit_scale
from holstein.ml.committee import load_committee
from holstein.ml.reference import ReferenceRun, committee_errors
from holstein.stages.al_label import label_frames
from holstein.stages.al_metrics import iteration_metrics
from holstein.stages.al_report import active_learning_report
from holstein.stages.al_select import select_frames

PHYSICS = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0, "temperature": 0.1,
           "bias_scheme": "gated"}
SHAPE = (5, 4)
LO, HI = 0.05, 0.5
# Per run: the maximum deviation of each frame (accurate, candidate or failed)
DEVIATIONS = {(2.0, 31): [0.01, 0.06, 0.2, 0.7, 0.04, 0.3],
              (3.0, 31): [0.5, 0.05, 0.049, 0.1, 1.0, 0.02]}


def exploration(path, bias, seed, deviations, means=None):
    n = len(deviations)
    rng = np.random.default_rng(seed + int(10 * bias))
    q = DEFAULTS.checkerboard(*SHAPE) + 0.2 * rng.normal(size=(n, *SHAPE))
    traj = Trajectory(steps=2 * np.arange(n), times=0.2 * np.arange(n), q=q, force=None,
                      force_deviation_max=np.asarray(deviations, dtype=float),
                      force_deviation_mean=np.asarray(deviations) / 3 if means is None
                      else np.asarray(means, dtype=float))
    write_trajectory(path, traj, {"bias": bias, "seed": seed, "physics": PHYSICS,
                                  "provider": "ml"})
    return path


@pytest.fixture()
def explorations(tmp_path):
    return [exploration(tmp_path / f"{SHAPE[0]}x{SHAPE[1]}_V{b:g}_s{s}.parquet", b, s, d)
            for (b, s), d in DEVIATIONS.items()]


def test_classes_of_the_trust_levels():
    d = np.array([0.0, 0.049, 0.05, 0.3, 0.4999, 0.5, 7.0])
    np.testing.assert_array_equal(classify(d, LO, HI), [0, 0, 1, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="below trust_hi"):
        classify(d, HI, LO)
    with pytest.raises(ValueError, match="committee of two"):
        classify(np.array([np.nan]), LO, HI)


def test_selection_counts_and_chooses_candidates_only(explorations, tmp_path):
    stats = select_frames(explorations, "max", LO, HI, frames=4, seed=1, selection="deviation",
                          selected_path=tmp_path / "selected.parquet",
                          stats_path=tmp_path / "selection.json")
    # 12 frames: accurate 0.01, 0.04, 0.049, 0.02; failed 0.7, 0.5, 1.0; the rest candidates
    assert (stats["frames"], stats["accurate"], stats["candidate"], stats["failed"]) == \
        (12, 4, 5, 3)
    assert stats["candidate_fraction"] == pytest.approx(5 / 12)
    assert stats["per_bias"]["2"]["candidate"] == 3 and stats["per_bias"]["3"]["failed"] == 2
    assert stats["selected"] == 4
    assert json.loads((tmp_path / "selection.json").read_text()) == stats
    arrays, meta = read_trajectory(tmp_path / "selected.parquet")
    assert np.all((arrays["force_deviation_max"] >= LO) & (arrays["force_deviation_max"] < HI))
    # every chosen frame is the explored one: its q, bias, seed and step
    for q, bias, seed, step in zip(arrays["q"], arrays["bias"], arrays["seed"],
                                   arrays["step"], strict=True):
        source, _ = read_trajectory(next(p for p in explorations if f"V{bias:g}_" in p.name))
        k = list(source["step"]).index(step)
        np.testing.assert_array_equal(q, source["q"][k])
        assert seed == 31
    # the same seed chooses the same frames; all candidates when fewer than asked
    again = select_frames(explorations, "max", LO, HI, 4, 1, "deviation",
                          tmp_path / "again.parquet", tmp_path / "again.json")
    assert again == stats
    np.testing.assert_array_equal(read_trajectory(tmp_path / "again.parquet")[0]["q"],
                                  arrays["q"])
    more = select_frames(explorations, "max", LO, HI, 50, 1, "deviation", tmp_path / "all.parquet",
                         tmp_path / "all.json")
    assert more["selected"] == 5


def test_the_trust_statistic_names_the_deviation_that_is_classified(tmp_path):
    """Mean and maximum over the sites rank these frames differently: each statistic
    classifies by its own column, and so picks another candidate."""
    maxima = [0.01, 0.1, 1.0]   # by the maximum: accurate, candidate, failed
    means = [0.1, 0.6, 0.01]    # by the mean:    candidate, failed, accurate
    runs = [exploration(tmp_path / "8x6_V2_s31.parquet", 2.0, 31, maxima, means)]
    picked = {}
    for statistic in ("max", "mean"):
        stats = select_frames(runs, statistic, 0.05, 0.5, 3, 1, "deviation",
                              tmp_path / f"{statistic}.parquet", tmp_path / f"{statistic}.json")
        assert stats["trust_statistic"] == statistic
        assert (stats["accurate"], stats["candidate"], stats["failed"]) == (1, 1, 1)
        picked[statistic] = read_trajectory(tmp_path / f"{statistic}.parquet")[0]
    assert picked["max"]["force_deviation_max"].tolist() == [0.1]
    assert picked["mean"]["force_deviation_max"].tolist() == [0.01]
    assert picked["mean"]["force_deviation_mean"].tolist() == [0.1]
    with pytest.raises(ValueError, match="trust_statistic='median'"):
        select_frames(runs, "median", 0.05, 0.5, 3, 1, "deviation",
                      tmp_path / "x.parquet", tmp_path / "x.json")


def test_random_selection_draws_from_every_frame(explorations, tmp_path):
    stats = select_frames(explorations, "max", LO, HI, frames=12, seed=3, selection="random",
                          selected_path=tmp_path / "selected.parquet",
                          stats_path=tmp_path / "selection.json")
    assert stats["selected"] == 12 and stats["selection"] == "random"
    arrays, _ = read_trajectory(tmp_path / "selected.parquet")
    assert sorted(arrays["force_deviation_max"]) == sorted(sum(DEVIATIONS.values(), []))


def test_largest_selection_takes_the_candidates_the_committee_is_least_sure_of(explorations,
                                                                          tmp_path):
    stats = select_frames(explorations, "max", LO, HI, frames=3, seed=3, selection="largest",
                          selected_path=tmp_path / "selected.parquet",
                          stats_path=tmp_path / "selection.json")
    assert stats["selected"] == 3 and stats["selection"] == "largest"
    arrays, _ = read_trajectory(tmp_path / "selected.parquet")
    # candidates 0.06, 0.2, 0.3, 0.05, 0.1: the three largest, failed frames left out
    assert sorted(arrays["force_deviation_max"]) == [0.1, 0.2, 0.3]


def test_labels_are_the_negf_steady_states_and_shards_partition_the_selection(explorations,
                                                                              tmp_path):
    select_frames(explorations, "max", LO, HI, 5, 2, "deviation", tmp_path / "selected.parquet",
                  tmp_path / "selection.json")
    selected, _ = read_trajectory(tmp_path / "selected.parquet")
    paths = [tmp_path / f"al1_labels_{s}.parquet" for s in range(3)]
    counts = [label_frames(tmp_path / "selected.parquet", s, 3, PHYSICS, "fast", p)
              for s, p in enumerate(paths)]
    assert counts == [2, 2, 1]
    negf = DEFAULTS.negf_provider(**{k: PHYSICS[k] for k in ("t", "g", "gamma", "temperature",
                                                         "bias_scheme")})
    seen = []
    for path in paths:
        arrays, meta = read_trajectory(path)
        assert meta["provider"] == "negf"
        for q, bias, force, current in zip(arrays["q"], arrays["bias"], arrays["force"],
                                           arrays["current"], strict=True):
            exact = negf.evaluate(q, bias)
            np.testing.assert_allclose(force, exact.force, rtol=0, atol=1e-12)
            assert current == pytest.approx(exact.current, abs=1e-12)
            seen.append(q)
    np.testing.assert_array_equal(np.sort(np.array(seen).ravel()),
                                  np.sort(selected["q"].ravel()))
    # a shard with nothing to label is an empty training shard
    empty = tmp_path / "al1_labels_9.parquet"
    assert label_frames(tmp_path / "selected.parquet", 9, 10, PHYSICS, "fast", empty) == 0
    data = load_shards([*paths, empty])
    assert len(data["q"]) == 5 and data["force"].shape == (5, *SHAPE)
    # grouped by bias and seed: one trajectory id per (shard, bias) here (one seed)
    groups = {(p.name, b) for p in paths for b in read_trajectory(p)[0]["bias"]}
    assert len(np.unique(data["trajectory"])) == len(groups)
    assert negf_solves([*paths, empty]) == {"negf_solves": 5, "frames": 5}
    with pytest.raises(ValueError, match="physics"):
        label_frames(tmp_path / "selected.parquet", 0, 3, {**PHYSICS, "g": 1.0}, "fast",
                     tmp_path / "other.parquet")


def test_a_trajectory_shard_counts_every_step_it_solved(tmp_path):
    q = np.zeros((4, *SHAPE))
    path = tmp_path / "V2_s1.parquet"
    write_trajectory(path, Trajectory(steps=3 * np.arange(4), times=np.zeros(4), q=q,
                                      force=q), {"bias": 2.0, "seed": 1, "n_steps": 9})
    assert negf_solves([path]) == {"negf_solves": 10, "frames": 4}


def test_iteration_metrics_and_the_report(explorations, tmp_path):
    import torch

    from holstein.ml.checkpoint import save_checkpoint
    from holstein.ml.model import Architecture, LocalForceField

    members = []
    for s in range(2):
        torch.manual_seed(s)
        model = LocalForceField(Architecture(cutoff=1, channels=4, head_channels=4,
                                             expansion=0, bond_heads=False,
                                             bond_head_channels=4))
        members.append(tmp_path / f"member_{s}.pt")
        save_checkpoint(members[-1], model, PHYSICS, SHAPE)
    references = []
    for seed in (101, 102):
        rng = np.random.default_rng(seed)
        q = DEFAULTS.checkerboard(*SHAPE) + 0.1 * rng.normal(size=(3, *SHAPE))
        references.append(tmp_path / f"V2_s{seed}.parquet")
        write_trajectory(references[-1], Trajectory(steps=np.arange(3), times=np.zeros(3),
                                                    q=q, force=np.tanh(q)),
                         {"bias": 2.0, "seed": seed, "physics": PHYSICS})
    shard = tmp_path / "V1.5_s1.parquet"
    write_trajectory(shard, Trajectory(steps=np.arange(3), times=np.zeros(3),
                                       q=np.zeros((3, *SHAPE)), force=np.zeros((3, *SHAPE))),
                     {"bias": 1.5, "seed": 1, "physics": PHYSICS, "n_steps": 6})
    select_frames(explorations, "max", LO, HI, 2, 1, "deviation", tmp_path / "selected.parquet",
                  tmp_path / "selection.json")
    labels = [tmp_path / "al1_labels_0.parquet"]
    label_frames(tmp_path / "selected.parquet", 0, 1, PHYSICS, "fast", labels[0])
    rows = [iteration_metrics(0, members, "mean", "mean", [shard], [], [], None, references,
                              tmp_path / "iter_0.json"),
            iteration_metrics(1, members, "mean", "mean", [shard], labels, labels,
                              tmp_path / "selection.json", references,
                              tmp_path / "iter_1.json")]
    assert rows[0]["labels"] == 0 and rows[0]["negf_solves_for_training"] == 7
    assert rows[1]["labels"] == rows[1]["new_labels"] == 2
    assert rows[1]["negf_solves_for_training"] == 9 and rows[1]["training_frames"] == 5
    assert rows[1]["exploration"]["candidate"] == 5 and rows[0]["exploration"] is None
    assert rows[0]["reference_force_rmse"]["2"]["n_snapshots"] == 6
    deviation = rows[0]["reference_deviation"]
    assert deviation["trust_statistic"] == "mean" and -1 <= deviation["spearman"] <= 1
    # the calibration of the iteration's committee, fitted on the same reference frames
    errors = committee_errors(load_committee(members, expect=PHYSICS, predictor="mean"),
                              [ReferenceRun(str(p), *read_trajectory(p), {}) for p in references])
    assert deviation["calibration"]["scale"] == pytest.approx(
        fit_scale(errors["frames"]["force_rmse"], errors["frames"]["mean_deviation"]))
    assert deviation["calibration"]["n_frames"] == 6
    summary = active_learning_report([tmp_path / "iter_1.json", tmp_path / "iter_0.json"],
                                     tmp_path / "summary.json", tmp_path / "al.png")
    assert [r["iteration"] for r in summary["iterations"]] == [0, 1]
    assert summary["table"][1]["candidate_fraction"] == pytest.approx(5 / 12)
    assert set(CLASSES) <= {k.removesuffix("_fraction") for k in summary["table"][1]}
    assert (tmp_path / "al.png").read_bytes()[:4] == b"\x89PNG"
