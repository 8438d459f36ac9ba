"""Validation from analyses only (``holstein.stages.validate``): numbers, tables and figures.

Synthetic per-run analyses (a wall moving at a known speed through an 8-column sample,
two biases, NEGF and ML, three seeds), benchmark files, model metrics and reference
errors go in; the paired verdicts, the HTML tables and what the figures draw are
checked.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from schema_defaults import DEFAULTS

from holstein.data.series import profile_columns
from holstein.report import plotting as pl
from holstein.stages import validate as validation

LX = 8
BIASES = (2.0, 2.1)
SEEDS = (101, 102, 103)
N_STEPS = 100
SPEED = {"negf": 0.5, "ml": 0.55}
LATTICE = {"Lx": LX, "Ly": 6}
PHYSICS = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": 1.0, "temperature": 0.1,
           "bias_scheme": "gated"}
DYNAMICS = {"damping": 0.2, "dt": 0.1}
# A committee of two on six reference frames, three per bias
FRAMES = {"bias": [2.0, 2.0, 2.0, 2.1, 2.1, 2.1],
          "max_deviation": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3],
          "mean_deviation": [0.002, 0.001, 0.004, 0.005, 0.007, 0.006],
          "force_rmse": [0.02, 0.01, 0.04, 0.05, 0.07, 0.06]}
COMMITTEE = {
    "members": 2, "predictor": "mean", "spearman_max_deviation": 0.83,
    "spearman_mean_deviation": 0.2, "n_frames": 6,
    "per_bias": {b: {"spearman_max_deviation": 0.5, "spearman_mean_deviation": 0.4,
                     "predictor_relative_rmse": 0.05, "member_relative_rmse": [0.06, 0.07],
                     "median_max_deviation": 0.02, "n_frames": 3} for b in ("2", "2.1")},
    "calibration": {"statistic": "mean", "scale": 4.8, "within_factor_2": 0.89,
                    "n_frames": 6, "n_runs": 2, "judged_on": "the other half"},
    "frames": FRAMES}
REFERENCE = {"reference_force_rmse": {"2": {"rmse": 0.1, "force_std": 1.0,
                                            "relative_rmse": 0.1, "n_snapshots": 33}},
             "reference_current": None, "committee": COMMITTEE}
TRUST = ("mean", 0.0025, 0.025)
MARGIN = 0.05


def run_analysis(provider, bias, seed):
    """A wall that leaves the gated electrode at the provider's speed; ML's insulating
    current is slightly negative, NEGF's tiny and positive."""
    times = np.linspace(0.0, 10.0, 11)
    wall = np.minimum(SPEED[provider] * times * (1 + 0.01 * (seed - 102)), LX - 1)
    x = np.arange(LX)
    phi = (x[None, :] >= wall[:, None]).astype(float)
    current = np.where(times > 4, 0.2 * bias, 1e-7 if provider == "negf" else -1e-3)
    frame = pd.DataFrame({"time": times, "order_parameter": phi.mean(axis=1),
                          "wall_position": wall, "current": current,
                          "series_current": current * (0.9 if provider == "ml" else 1.0),
                          "kirchhoff_spread": np.zeros_like(times)})
    frame = pd.concat([frame, pd.DataFrame(phi, columns=profile_columns(LX))], axis=1)
    summary = {"provider": provider, "bias": bias, "seed": seed, "Lx": LX, "Ly": 6,
               "wall_velocity": SPEED[provider] * (1 + 0.01 * (seed - 102)),
               "half_decay_time": 8.0 / SPEED[provider], "late_current": 0.2 * bias,
               "initial_current": float(current[0]), "switching_time": 4.5,
               "series_late_current": 0.2 * bias, "series_switching_time": 4.5,
               "mean_kirchhoff_spread": 0.0}
    return summary, frame


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validation")
    summaries, series, benchmarks, costs = [], [], [], []
    for provider in ("ml", "negf"):
        for bias in BIASES:
            for seed in SEEDS:
                summary, frame = run_analysis(provider, bias, seed)
                folder = tmp / "analysis" / provider
                folder.mkdir(parents=True, exist_ok=True)
                summaries.append(folder / f"V{bias:g}_s{seed}.json")
                series.append(folder / f"V{bias:g}_s{seed}.csv")
                summaries[-1].write_text(json.dumps(summary))
                frame.to_csv(series[-1], index=False)
                bench = tmp / "benchmarks" / provider / f"V{bias:g}_s{seed}.tsv"
                bench.parent.mkdir(parents=True, exist_ok=True)
                seconds = (N_STEPS + 1) * (0.02 if provider == "negf" else 0.004) * seed / 102
                bench.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t100\n")
                benchmarks.append(bench)
                cost = tmp / "cost" / provider / f"V{bias:g}_s{seed}.json"
                cost.parent.mkdir(parents=True, exist_ok=True)
                cost.write_text(json.dumps(
                    {"seconds_per_step": 0.01 if provider == "negf" else 0.001}))
                costs.append(cost)
    model = [tmp / f"member_{k}_metrics.json" for k in range(2)]
    for k, path in enumerate(model):
        path.write_text(json.dumps({
            "best_epoch": 3 + k, "epochs_run": 5, "best_val_loss": 0.2, "n_parameters": 10,
            "history": {"train_loss": [1.0]},
            "held_out_force_rmse": {"2": {"rmse": 0.1, "force_std": 1.0,
                                          "relative_rmse": 0.1, "n_values": 48}}}))
    reference = tmp / "reference_errors.json"
    reference.write_text(json.dumps(REFERENCE))
    return {"summaries": summaries, "series": series, "benchmarks": benchmarks,
            "costs": costs, "model": model, "reference": reference, "tmp": tmp}


@pytest.fixture(scope="module")
def made(inputs):
    """make_validation with the figures captured before they are closed."""
    figures = {}
    original = pl.finish

    def capture(fig, path, **kwargs):
        figures[str(path)] = fig
        original(fig, path, **kwargs)

    pl.finish = capture
    try:
        out = inputs["tmp"] / "validation"
        outputs = {name: out / f"{name}.png" for name in
                   ("velocity", "decay", "kymographs", "current", "iv_curve", "paired",
                    "cost", "committee")}
        outputs |= {"metrics": out / "metrics.json", "tables": out / "metrics.html",
                    "runs": out / "runs", "cost_metrics": out / "cost.json",
                    "cost_tables": out / "cost.html"}
        metrics = validation.make_validation(
            inputs["summaries"], inputs["series"], inputs["benchmarks"], inputs["costs"],
            inputs["model"],
            inputs["reference"], N_STEPS, training_biases=[1.5, 2.0, 3.0], outputs=outputs,
            lattice=LATTICE, physics=PHYSICS, dynamics=DYNAMICS, margin=MARGIN, trust=TRUST)
    finally:
        pl.finish = original
    return {"metrics": metrics, "outputs": outputs, "figures": figures}


def test_metrics_compare_the_seed_statistics_and_keep_the_inputs(made, inputs):
    metrics = made["metrics"]
    assert json.loads(made["outputs"]["metrics"].read_text()) == json.loads(
        json.dumps(metrics, default=float))
    entry = metrics["per_bias"]["2.1"]
    assert entry["interpolated"] and not metrics["per_bias"]["2"]["interpolated"]
    velocity = entry["wall_velocity"]
    assert velocity["negf"]["mean"] == pytest.approx(0.5) and velocity["negf"]["n"] == 3
    assert velocity["negf"]["std"] == pytest.approx(0.005)  # 0.5 * 0.01, ddof 1
    # ML's wall is 10 % fast seed by seed: the paired interval is tight around +10 %
    paired = velocity["paired"]
    assert paired["seeds"] == list(SEEDS) and paired["mean"] == pytest.approx(0.1)
    assert paired["differences"] == pytest.approx([0.099, 0.1, 0.101])
    assert paired["interval"][0] > MARGIN and paired["verdict"] == "differs"
    assert entry["half_decay_time"]["paired"]["mean"] == pytest.approx(0.5 / 0.55 - 1)
    assert entry["late_current"]["paired"]["verdict"] == "equivalent"  # identical runs
    assert metrics["margin"] == MARGIN
    # the cost is apart: median over runs of the job seconds / (steps + 1), and of the loop
    assert not {"cost_per_step_seconds", "loop_cost_per_step_seconds"} & set(metrics)
    cost = json.loads(made["outputs"]["cost_metrics"].read_text())
    assert cost["cost_per_step_seconds"]["negf"] == pytest.approx(0.02)
    assert cost["loop_cost_per_step_seconds"] == {"negf": 0.01, "ml": 0.001}
    assert cost["speedup_negf_over_ml"] == pytest.approx(5.0)
    assert cost["loop_speedup_negf_over_ml"] == pytest.approx(10.0)
    assert [m["best_epoch"] for m in metrics["model"]] == [3, 4]  # member by member
    assert not any("history" in m for m in metrics["model"])
    assert metrics["reference_force_rmse"] == REFERENCE["reference_force_rmse"]
    assert metrics["reference_current"] is None
    # the committee's summaries, without the per-frame values (those are drawn)
    assert metrics["committee"] == {k: v for k, v in COMMITTEE.items() if k != "frames"}


def test_the_tables_hold_every_number_with_units(made):
    page = made["outputs"]["tables"].read_text()
    for text in ("ML against NEGF per validation bias", "wall velocity", "sites per ħ/t",
                 "0.5 ± 0.005 (n = 3)",
                 "ML force error on the NEGF reference runs", "Training of the force field",
                 "8 × 6 lattice", "model units: t = ħ = e = 1", "Committee of 2 force fields",
                 "Spearman, max deviation", "0.83", "0.06, 0.07",
                 "expected force error", "scale x the mean deviation", "4.8", "89 %"):
        assert text in page, text
    assert "Cost" not in page  # the machine's measurements are on a page of their own
    assert "<table" in page and page.count("<h3>") == 6  # no current table without heads
    cost = made["outputs"]["cost_tables"].read_text()
    assert "Cost per Brownian step" in cost and "integration loop" in cost


def test_one_figure_per_run_named_by_provider_bias_and_seed(made):
    names = sorted(p.name for p in made["outputs"]["runs"].iterdir())
    assert names == sorted(f"{p}_V{b:g}_s{s}.png" for p in ("ML", "NEGF") for b in BIASES
                           for s in SEEDS)
    for name in names:
        assert (made["outputs"]["runs"] / name).read_bytes()[:4] == b"\x89PNG"


def _figure(made, name):
    return made["figures"][str(made["outputs"][name])]


def test_velocity_markers_are_offset_and_the_range_is_the_data_span(made):
    (ax,) = _figure(made, "velocity").axes
    assert ax.get_xlim() == pytest.approx((1.95, 2.15))
    xs = {c.get_label(): c.lines[0].get_xdata() for c in ax.containers}
    negf, ml = xs["NEGF: mean ± std over 3 seeds"], xs["ML: mean ± std over 3 seeds"]
    assert np.all(ml > negf)
    assert "sites per" in ax.get_ylabel() and "t/e" in ax.get_xlabel()


def test_iv_curve_is_logarithmic_with_negative_currents_open(made):
    axes = _figure(made, "iv_curve").axes
    assert all(ax.get_yscale() == "log" for ax in axes)
    before = axes[0]
    faces = {}
    for line in before.lines:
        if line.get_marker() in ("o", "s") and line.get_linestyle() == "None":
            faces[line.get_marker()] = (line.get_markerfacecolor(), line.get_ydata())
    white = to_rgba("white")
    face, values = faces["s"]  # ML: negative insulating current, drawn as |I|, open
    assert to_rgba(face) == white and np.allclose(values, 1e-3)
    face, values = faces["o"]  # NEGF: positive, filled
    assert to_rgba(face) != white and np.allclose(values, 1e-7)
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "open: I < 0 (|I| shown)" in labels


def test_time_series_bands_name_one_statistic_for_both_providers(made):
    for name in ("decay", "current"):
        axes = _figure(made, name).axes
        labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
        assert "NEGF: mean ± std over 3 seeds" in labels
        assert "ML: mean ± std over 3 seeds" in labels
        assert len(axes[0].collections) >= 2  # a band for each provider
        assert axes[0].get_xlabel() == pl.TIME


def test_kymographs_average_the_seeds_and_draw_every_seeds_wall(made):
    fig = _figure(made, "kymographs")
    axes = [ax for ax in fig.axes if ax.images]
    panels = [(bias, provider) for bias in BIASES for provider in ("negf", "ml")]
    assert len(axes) == len(panels)
    for ax, (bias, provider) in zip(axes, panels, strict=True):
        assert len(ax.lines) == len(SEEDS)
        seeds = [run_analysis(provider, bias, s)[1] for s in SEEDS]
        expected = np.mean([f[profile_columns(LX)].to_numpy() for f in seeds], axis=0)
        np.testing.assert_allclose(ax.images[0].get_array(), expected.T)
        assert ax.get_title().startswith(f"{pl.PROVIDERS[provider].name}, V = {bias:g}")
    assert 0 < axes[0].images[0].get_array()[1, 2] < 1  # the seeds' walls differ there
    assert fig.get_supylabel() == "distance from the gated electrode x (sites)"
    assert fig.get_supxlabel() == pl.TIME


def test_the_committee_figure_draws_every_reference_frame_with_the_trust_levels(made):
    """Against the trust statistic (here the mean deviation) and with its Spearman."""
    (ax,) = _figure(made, "committee").axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    dots = [line for line in ax.lines if line.get_marker() == "."]
    assert [len(d.get_xdata()) for d in dots] == [3, 3]
    np.testing.assert_allclose(np.concatenate([d.get_xdata() for d in dots]),
                               FRAMES["mean_deviation"])
    np.testing.assert_allclose(np.concatenate([d.get_ydata() for d in dots]),
                               FRAMES["force_rmse"])
    verticals = sorted(line.get_xdata()[0] for line in ax.lines if line.get_marker() != ".")
    assert verticals == list(TRUST[1:])
    assert "ρ = 0.2 " in _figure(made, "committee").get_suptitle()
    assert [d.get_label().split("ρ = ")[1] for d in dots] == ["0.4", "0.4"]


def test_validation_imports_neither_the_model_nor_raw_data_code():
    code = ("import sys, holstein.stages.validate; print(' '.join(m for m in sys.modules "
            "if m.startswith(('holstein', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    modules = set(out.stdout.split())
    assert "holstein.stages.validate" in modules
    # the one model-side fact it reads: a calibration's expected force error (no torch)
    shared = {"holstein.ml", "holstein.ml.committee_file"}
    assert not {m for m in modules - shared
                if m.startswith(("holstein.ml", "holstein.data.shards", "holstein.stages.analyse",
                                 "holstein.data.io"))}
    assert "torch" not in out.stdout


class ScaledNEGF:
    """An 'ML' provider that is the exact NEGF force times ``factor``: 1 is the perfect
    force field, 0.9 a wrong one."""

    def __init__(self, factor: float):

        self.inner, self.factor = DEFAULTS.negf_provider(), factor

    def evaluate(self, q, bias, observables=True):
        import dataclasses

        response = self.inner.evaluate(q, bias, observables)
        return dataclasses.replace(response, force=self.factor * response.force)

    def electronic_force(self, q, bias):
        return self.evaluate(q, bias).force


def paired_verdicts(tmp_path, providers: dict, bias: float, seeds, n_steps=200, stride=4):
    """Brownian runs on the tiny config's lattice (7 x 6) from the checkerboard: NEGF and
    each 'ML' provider of ``providers``, analysed and compared as the pipeline does.
    Returns name -> quantity -> the paired comparison with NEGF."""
    from holstein.data.io import write_trajectory
    from holstein.physics.dynamics import run_brownian
    from holstein.stages.analyse import analyse_run

    files = {}
    for name, provider in {"negf": DEFAULTS.negf_provider(), **providers}.items():
        for seed in seeds:
            traj = run_brownian(DEFAULTS.checkerboard(7, 6), provider, bias, DEFAULTS.brownian(),
                                n_steps=n_steps, seed=seed, stride=stride)
            stem = tmp_path / name / f"V{bias:g}_s{seed}"
            stem.parent.mkdir(exist_ok=True)
            write_trajectory(f"{stem}.parquet", traj,
                             {"bias": bias, "seed": seed, "Lx": 7, "Ly": 6, "physics": PHYSICS,
                              "provider": "negf" if name == "negf" else "ml"})
            analyse_run(f"{stem}.parquet", f"{stem}.csv", f"{stem}.json")
            files.setdefault(name, []).append(stem)
    out = {}
    for name in providers:
        stems = files["negf"] + files[name]
        runs = validation.read_runs([f"{s}.json" for s in stems], [f"{s}.csv" for s in stems])
        per_bias, _ = validation.compare(runs, [bias], {bias}, MARGIN)
        out[name] = {q: per_bias[f"{bias:g}"][q]["paired"] for q in validation.PAIRED_PANELS}
    return out


@pytest.mark.slow
def test_a_wrong_force_field_differs_and_the_exact_one_is_equivalent(tmp_path):
    """V = 2.5, three seeds: an 'ML' that is NEGF itself, and one whose force is 10 % weak."""
    verdicts = paired_verdicts(tmp_path, {"exact": ScaledNEGF(1.0), "weak": ScaledNEGF(0.9)},
                               2.5, (1, 2, 3))
    exact = verdicts["exact"]
    assert all(p["n"] == 3 and p["mean"] == 0 for p in exact.values()), exact
    assert {p["verdict"] for p in exact.values()} == {"equivalent"}
    weak = verdicts["weak"]
    assert "differs" in {p["verdict"] for p in weak.values()}, weak
    assert weak["half_decay_time"]["verdict"] == "differs"  # the weaker force melts faster


@pytest.mark.slow
def test_a_trained_model_that_never_saw_the_highest_bias_differs_there(tmp_path, torch_one_thread):
    """Real force fields, trained on NEGF trajectories of the 7 x 6 lattice at V = 1.5 and
    2.0 only, or at 1.5, 2.0 and 2.5, then run at V = 2.5: the extrapolating one must be
    judged "differs", and by more than the one trained there."""
    from schema_defaults import local_training_parameters

    from holstein.data.io import write_trajectory
    from holstein.data.shards import load_shards
    from holstein.ml.provider import load
    from holstein.ml.training.trainer import train
    from holstein.physics.dynamics import run_brownian

    shards = {}
    for bias in (1.5, 2.0, 2.5):
        for seed in (1, 2):
            path = tmp_path / "shards" / f"V{bias:g}_s{seed}.parquet"
            path.parent.mkdir(exist_ok=True)
            traj = run_brownian(DEFAULTS.checkerboard(7, 6), DEFAULTS.negf_provider(), bias,
                                DEFAULTS.brownian(), n_steps=200, seed=seed, stride=2)
            write_trajectory(path, traj, {"bias": bias, "seed": seed, "Lx": 7, "Ly": 6,
                                          "physics": PHYSICS, "provider": "negf"})
            shards[bias, seed] = path
    params = local_training_parameters(cutoff=2, channels=8, epochs=100, batch_size=16, patience=10,
                                 validation_fraction=0.25)
    models = {}
    for name, biases in (("trained_there", (1.5, 2.0, 2.5)), ("never_there", (1.5, 2.0))):
        data = load_shards([shards[b, s] for b in biases for s in (1, 2)])
        train(data, params, tmp_path / f"{name}.pt", log=lambda *_: None)
        models[name] = load(tmp_path / f"{name}.pt")
    verdicts = paired_verdicts(tmp_path, models, 2.5, (1, 2, 3))
    never = verdicts["never_there"]
    assert "differs" in {p["verdict"] for p in never.values()}, never
    for quantity in ("half_decay_time", "late_current"):
        assert abs(never[quantity]["mean"]) > abs(verdicts["trained_there"][quantity]["mean"])


def test_the_time_step_error_pairs_the_coarse_and_fine_runs_by_seed(tmp_path):
    """NEGF(dt) - NEGF(dt / 2) relative to the dt / 2 mean, seed by seed."""
    paths = []
    for resolution, factor in (("coarse", 1.04), ("fine", 1.0)):
        folder = tmp_path / resolution
        folder.mkdir()
        for seed, value in zip(SEEDS, (0.4, 0.5, 0.6), strict=True):
            summary = {"bias": 2.2, "seed": seed, "wall_velocity": factor * value,
                       "half_decay_time": 10.0, "switching_time": None,
                       # seed 103's reference never switched: its late current is no scale
                       "late_current": 0.3 if seed != 103 else 1e-7 * factor,
                       "switched": seed != 103}
            paths.append(folder / f"V2.2_s{seed}.json")
            paths[-1].write_text(json.dumps(summary))
    errors = validation.time_step_error(paths, MARGIN)["2.2"]
    velocity = errors["wall_velocity"]
    assert velocity["differences"] == pytest.approx([0.04 * 0.4 / 0.5, 0.04, 0.04 * 1.2])
    assert velocity["seeds"] == list(SEEDS) and velocity["verdict"] == "unresolved"
    assert errors["half_decay_time"]["verdict"] == "equivalent"  # identical: zero error
    assert errors["switching_time"]["n"] == 0  # never switched: nothing to pair
    assert errors["late_current"]["seeds"] == [101, 102]


def test_the_late_current_is_paired_only_where_the_negf_run_switched():
    """An insulating run's late current (~1e-7) is no scale to judge ML against."""
    def summary(provider, seed, current, switched):
        return ({"late_current": current, "switched": switched, "wall_velocity": 0.1,
                 "provider": provider, "seed": seed}, None)

    runs = {("negf", 2.0): {1: summary("negf", 1, 1e-7, False),
                            2: summary("negf", 2, 0.2, True),
                            3: summary("negf", 3, 0.25, True)},
            ("ml", 2.0): {1: summary("ml", 1, 1e-3, False),
                          2: summary("ml", 2, 0.21, True),
                          3: summary("ml", 3, 0.26, True)}}
    per_bias, _ = validation.compare(runs, [2.0], {2.0}, MARGIN)
    paired = per_bias["2"]["late_current"]["paired"]
    assert paired["seeds"] == [2, 3]
    assert paired["differences"] == pytest.approx([0.01 / 0.225, 0.01 / 0.225])
    assert per_bias["2"]["wall_velocity"]["paired"]["n"] == 3


def test_an_off_scale_difference_is_written_at_the_edge_not_flattening_the_rest(tmp_path):
    from holstein.report.comparison import paired_difference

    def entry(ml_factor):
        negf = {1: 1.0, 2: 1.2, 3: 0.9}
        return {"paired": paired_difference({s: v * ml_factor for s, v in negf.items()},
                                            negf, MARGIN)}

    per_bias = {"2": {q: entry(80.0 if q == "late_current" else 1.02)
                      for q in validation.PAIRED_PANELS},
                "2.2": {q: entry(0.9) for q in validation.PAIRED_PANELS}}
    figures = {}
    original = pl.finish
    pl.finish = lambda fig, path, **kw: figures.setdefault("fig", fig)
    try:
        validation.plot_paired(per_bias, MARGIN, "test", tmp_path / "paired.png")
    finally:
        pl.finish = original
    axes = figures["fig"].axes
    current = axes[validation.PAIRED_PANELS.index("late_current")]
    assert current.get_ylim()[1] <= validation.PAIRED_AXIS_LIMIT
    assert any("+7900 %" in t.get_text() for t in current.texts)
    velocity = axes[validation.PAIRED_PANELS.index("wall_velocity")]
    assert velocity.get_ylim()[1] < validation.PAIRED_AXIS_LIMIT and not velocity.texts


def test_every_ml_run_states_its_expected_force_error_from_the_calibration(tmp_path):
    times = np.arange(4.0)
    frame = pd.DataFrame({"time": times, "order_parameter": 1 - times / 10,
                          "current": times, "series_current": times,
                          "wall_position": times, "force_deviation_max": [0.1, 0.2, 0.4, 0.8],
                          "force_deviation_mean": [0.01, 0.02, 0.03, 0.04],
                          **{c: 1.0 for c in profile_columns(3)}})
    summary = {"provider": "ml", "bias": 2.2, "seed": 101, "wall_velocity": 0.3,
               "half_decay_time": 5.0, "switching_time": math.inf, "late_current": 1.0}
    calibration = {"statistic": "mean", "scale": 2.5}
    runs = {("ml", 2.2): {101: (summary, frame)},
            ("negf", 2.2): {101: ({**summary, "provider": "negf"}, frame)}}
    expected = validation.ml_expected_errors(runs, calibration)
    assert expected["runs"] == {"V2.2_s101": {"median": pytest.approx(2.5 * 0.025),
                                              "max": pytest.approx(2.5 * 0.04)}}
    assert expected["scale"] == 2.5 and expected["unit"] == "t"
    assert validation.ml_expected_errors(runs, None) is None
    no_committee = {**runs, ("ml", 2.2): {101: (summary, frame.drop(
        columns=["force_deviation_mean", "force_deviation_max"]))}}
    assert validation.ml_expected_errors(no_committee, calibration) is None
    path = tmp_path / "run.png"
    validation.plot_run(summary, frame, "setting", path, calibration)
    assert path.stat().st_size > 0
