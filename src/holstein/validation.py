"""Validation of the ML force field against NEGF: figures and agreement numbers.

Inputs are the per-run analyses (holstein.analysis), the Snakemake benchmark files of
the runs (wall time per job, hence cost per step) and the training metrics.  Outputs:
wall velocity against bias, order-parameter decay, kymographs side by side, device
current against time, the I-V curve before and after the resistance switch, per-step
cost, and ``metrics.json``.

``metrics.json`` also holds the ML errors on the NEGF reference trajectories (held-out
seeds at every validation bias): the force (``reference_force_rmse``) and, for a model
with bond-current heads, the device current once the metallic domain has formed
(``reference_current``, frames after the NEGF run's switching time).

Agreement criterion (issue 4): ML within 5 % of NEGF, or within the NEGF
seed-to-seed spread (standard deviation over seeds) when that is larger.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import pyplot, save_figure, write_text_atomic
from .comparison import agreement, seed_statistics
from .observables import kirchhoff_spread, series_current

# Per-run quantities (holstein.analysis summaries) compared ML against NEGF at every bias.
COMPARED = ("wall_velocity", "half_decay_time", "late_current", "initial_current",
            "switching_time",  # late before initial: the latter is judged on its scale
            # the ML bond currents read in series (observables.series_current) against
            # NEGF's exact current (for which both read-outs are the same)
            "series_late_current", "series_switching_time")


def read_runs(summaries, series):
    runs = defaultdict(dict)  # (provider, bias) -> seed -> (summary, series)
    frames = {Path(p).with_suffix("").as_posix(): p for p in series}
    for path in summaries:
        summary = json.loads(Path(path).read_text())
        key = Path(path).with_suffix("").as_posix()
        runs[(summary["provider"], summary["bias"])][summary["seed"]] = (
            summary,
            pd.read_csv(frames[key]),
        )
    return runs


def cost_per_step(benchmarks, n_steps):
    """Median wall seconds per Brownian step for each provider, from benchmark TSVs."""
    per = defaultdict(list)
    for path in benchmarks:
        provider = Path(path).parent.name
        seconds = pd.read_csv(path, sep="\t")["s"].iloc[0]
        per[provider].append(seconds / (n_steps + 1))
    return {p: float(np.median(v)) for p, v in per.items()}


def reference_force_rmse(provider, negf_runs) -> dict:
    """ML force error on the independent NEGF reference trajectories, per bias.

    These frames were never seen in training (other seeds, and biases between the
    training biases), so this is the held-out error where the validation runs live.
    Pooled over seeds: RMSE, the NEGF force standard deviation, and their ratio.
    """
    from .dataset import load_shards
    from .ml.metrics import evaluate_rmse

    rows = evaluate_rmse(provider, load_shards(negf_runs))["per_bias"]
    return {f"{row['bias']:g}": {k: row[k] for k in ("rmse", "force_std", "relative_rmse",
                                                      "n_snapshots")} for row in rows}


def _current_errors(pred, negf, scale, prefix="") -> dict:
    """ML mean current, RMSE against NEGF, and both errors relative to ``scale``."""
    rmse = float(np.sqrt(np.mean((pred - negf) ** 2)))
    return {f"{prefix}ml_mean_current": float(np.mean(pred)),
            f"{prefix}rmse": rmse,
            f"{prefix}relative_rmse": rmse / scale,
            f"{prefix}relative_error_of_mean": float(abs(np.mean(pred) - np.mean(negf)) / scale)}


def reference_current(provider, negf_runs) -> dict | None:
    """ML device current on the NEGF reference trajectories after the metallic domain forms.

    For every reference run the frames from its (NEGF) switching time on are taken; the
    ML model predicts the device current of those exact configurations.  Per bias, pooled
    over seeds: the NEGF mean current, the RMSE of the ML current and its ratio to the mean
    |current| (``relative_rmse``), the relative error of the mean, and the mean Kirchhoff
    spread of the ML bond currents relative to the mean |current|; the same error numbers
    for the series read-out of the ML bond currents (``series_*``).  Runs that never
    switch (``analysis.current_switch``) are left out; a bias without a switched run is
    absent.  None for a model without bond-current heads.
    """
    from .analysis import current_switch
    from .io import read_trajectory
    from .ml.metrics import predict_all

    if not provider.model.bond_heads:
        return None
    pooled = defaultdict(lambda: {"negf": [], "ml": [], "series": [], "spread": [], "runs": 0})
    for path in negf_runs:
        arrays, meta = read_trajectory(path)
        times, current = arrays["time"], arrays["current"]
        switch = current_switch(times, current)
        if not switch["switched"]:
            continue  # an insulating run has no metallic frames to compare
        sel = times >= switch["switching_time"]
        out = predict_all(provider, arrays["q"][sel], arrays["bias"][sel])
        pooled[meta["bias"]]["ml"].append(out["current"])
        pooled[meta["bias"]]["series"].append(series_current(out["bond_current_x"]))
        pooled[meta["bias"]]["spread"].append(kirchhoff_spread(out["bond_current_x"]))
        pooled[meta["bias"]]["negf"].append(current[sel])
        pooled[meta["bias"]]["runs"] += 1
    result = {}
    for bias in sorted(pooled):
        negf, ml, series, spread = (np.concatenate(pooled[bias][k])
                                    for k in ("negf", "ml", "series", "spread"))
        scale = float(np.mean(np.abs(negf)))
        result[f"{bias:g}"] = {
            "negf_mean_current": float(np.mean(negf)),
            **_current_errors(ml, negf, scale),
            **_current_errors(series, negf, scale, "series_"),
            "ml_relative_kirchhoff_spread": float(np.mean(spread)) / scale,
            "n_snapshots": int(len(negf)),
            "n_runs": pooled[bias]["runs"],
        }
    return result


def _finish_bias_plot(plt, fig, ax, training_biases, ylabel, what, path, legend_size=None):
    """Axes against bias with the training biases marked; saved and closed."""
    for b in training_biases:
        ax.axvline(b, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("bias V")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{what}: mean and spread over seeds\n(grey lines: training biases)",
                 fontsize=10)
    ax.legend(fontsize=legend_size)
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_velocity(table, training_biases, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for provider, style in (("negf", "o-"), ("ml", "s--")):
        rows = table[table.provider == provider]
        ax.errorbar(rows.bias, rows.wall_velocity_mean, yerr=rows.wall_velocity_std,
                    fmt=style, capsize=3, label=provider.upper())
    _finish_bias_plot(plt, fig, ax, training_biases, "domain-wall velocity (sites / time)",
                      "Wall velocity", path)


def plot_iv(table, training_biases, path):
    """Device current against bias in the CDW state (before the switch) and after it."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    branches = (("initial_current", "before the switch (CDW)", "C0"),
                ("late_current", "after the switch (metal)", "C3"))
    for column, branch, colour in branches:
        for provider, style, fill in (("negf", "o-", colour), ("ml", "s--", "none")):
            rows = table[table.provider == provider]
            if not np.isfinite(rows[f"{column}_mean"]).any():
                continue
            ax.errorbar(rows.bias, rows[f"{column}_mean"], yerr=rows[f"{column}_std"],
                        fmt=style, color=colour, mfc=fill, capsize=3,
                        label=f"{provider.upper()}, {branch}")
    _finish_bias_plot(plt, fig, ax, training_biases, "device current (e = hbar = 1)", "I-V",
                      path, legend_size=7)


def _panels(n):
    plt = pyplot()
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), sharey=True, squeeze=False)
    return plt, fig, axes[0]


def _band(ax, frames, column, label, style):
    t = frames[0]["time"].to_numpy()
    values = np.stack([f[column].to_numpy()[: len(t)] for f in frames])
    mean = values.mean(axis=0)
    ax.plot(t, mean, style, label=label)
    if len(frames) > 1:
        ax.fill_between(t, values.min(axis=0), values.max(axis=0), alpha=0.2)


def plot_time_series(runs, biases, column, ylabel, title, path, extra_curves=()):
    """One panel per bias: ``column`` of NEGF (solid) and ML (dashed), mean and seed range.

    ``extra_curves``: more (provider, column, label, style) to draw, where present.
    """
    plt, fig, axes = _panels(len(biases))
    curves = (("negf", column, "NEGF", "-"), ("ml", column, "ML", "--"), *extra_curves)
    for ax, bias in zip(axes, biases, strict=True):
        for provider, name, label, style in curves:
            frames = [s for _, s in runs[(provider, bias)].values()]
            if frames and name in frames[0] and np.isfinite(frames[0][name]).any():
                _band(ax, frames, name, label, style)
        ax.set_title(f"V = {bias:g}", fontsize=10)
        ax.set_xlabel("time")
    axes[0].set_ylabel(ylabel)
    axes[0].legend()
    fig.suptitle(title, fontsize=10, y=1.04)
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_kymographs(runs, biases, path):
    plt = pyplot()
    fig, axes = plt.subplots(len(biases), 2, figsize=(8, 2.4 * len(biases)), squeeze=False,
                             sharex=True)
    for row, bias in zip(axes, biases, strict=True):
        for ax, provider in zip(row, ("negf", "ml"), strict=True):
            seeds = sorted(runs[(provider, bias)])
            summary, frame = runs[(provider, bias)][seeds[0]]
            phi = frame[[c for c in frame.columns if c.startswith("phi_")]].to_numpy()
            t = frame["time"].to_numpy()
            im = ax.imshow(phi.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                           extent=[t[0], t[-1], -0.5, phi.shape[1] - 0.5])
            ax.plot(t, frame["wall_position"], "k--", lw=0.8)
            ax.set_title(f"{provider.upper()}  V = {bias:g}, seed {seeds[0]}", fontsize=9)
        row[0].set_ylabel("x")
    for ax in axes[-1]:
        ax.set_xlabel("time")
    fig.colorbar(im, ax=axes, label=r"$\phi(x)/\phi_0$")
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_cost(costs, loop_costs, path):
    """Seconds per step: job wall time / steps (benchmark files) and the integration loop."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    names = [p for p in ("negf", "ml") if p in costs]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [costs[n] for n in names], 0.4, label="job wall time / steps")
    ax.bar(x + 0.2, [loop_costs.get(n, np.nan) for n in names], 0.4,
           label="integration loop only")
    ax.set_xticks(x, [n.upper() for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("seconds per Brownian step")
    if {"negf", "ml"} <= set(costs):
        ax.set_title(f"Cost per step; NEGF/ML = {costs['negf'] / costs['ml']:.0f}x (job), "
                     f"{loop_costs['negf'] / loop_costs['ml']:.0f}x (loop)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def make_validation(summaries, series, benchmarks, model_metrics, n_steps, training_biases,
                    outputs, model_path=None, negf_runs=()) -> dict:
    runs = read_runs(summaries, series)
    biases = sorted({b for _, b in runs})
    trained = {float(b) for b in training_biases}
    rows, per_bias = [], {}
    for bias in biases:
        entry = {"interpolated": bias not in trained}
        for quantity in COMPARED:
            stats = {p: seed_statistics([s.get(quantity) for s, _ in runs[(p, bias)].values()])
                     for p in ("negf", "ml")}
            # The insulating current is ~0: compare it on the scale of the switched current.
            scale = (entry["late_current"]["negf"]["mean"] if quantity == "initial_current"
                     else None)
            entry[quantity] = {**stats, "agreement": agreement(stats["ml"], stats["negf"],
                                                               scale)}
        entry["mean_kirchhoff_spread"] = {
            p: seed_statistics([s.get("mean_kirchhoff_spread")
                                for s, _ in runs[(p, bias)].values()])
            for p in ("negf", "ml")}
        per_bias[f"{bias:g}"] = entry
        for p in ("negf", "ml"):
            row = {"provider": p, "bias": bias}
            for quantity in COMPARED:
                row[f"{quantity}_mean"] = entry[quantity][p]["mean"]
                row[f"{quantity}_std"] = entry[quantity][p]["std"]
            rows.append(row)
    table = pd.DataFrame(rows)
    costs = cost_per_step(benchmarks, n_steps)
    # The job wall time includes start-up (imports, model loading); the loop time does not.
    loop_costs = {p: float(np.median([s["seconds_per_step"] for (q, _), runs_ in runs.items()
                                      if q == p for s, _ in runs_.values()]))
                  for p in ("negf", "ml")}
    model = json.loads(Path(model_metrics).read_text())
    metrics = {
        "criterion": "ML within 5 % of NEGF or within the NEGF seed spread (std), per bias",
        "per_bias": per_bias,
        "cost_per_step_seconds": costs,
        "speedup_negf_over_ml": costs["negf"] / costs["ml"] if {"negf", "ml"} <= set(costs)
        else math.nan,
        "loop_cost_per_step_seconds": loop_costs,
        "loop_speedup_negf_over_ml": loop_costs["negf"] / loop_costs["ml"],
        "model": {k: model[k] for k in model if k != "history"},
    }
    if model_path is not None and negf_runs:
        from .ml.provider import load

        provider = load(model_path)
        metrics["reference_force_rmse"] = reference_force_rmse(provider, negf_runs)
        metrics["reference_current"] = reference_current(provider, negf_runs)
    plot_velocity(table, sorted(trained), outputs["velocity"])
    plot_time_series(runs, biases, "order_parameter", "order parameter (normalised)",
                     "Decay of the CDW order: NEGF (solid, band = seed range) and ML (dashed)",
                     outputs["decay"])
    plot_kymographs(runs, biases, outputs["kymographs"])
    plot_time_series(runs, biases, "current", "device current",
                     "Device current: NEGF (solid, band = seed range), ML bond heads: mean "
                     "over cross-sections (dashed) and cross-sections in series (dotted)",
                     outputs["current"],
                     extra_curves=(("ml", "series_current", "ML, in series", ":"),))
    plot_iv(table, sorted(trained), outputs["iv_curve"])
    plot_cost(costs, loop_costs, outputs["cost"])
    write_text_atomic(outputs["metrics"], json.dumps(metrics, indent=2, default=float))
    return metrics


