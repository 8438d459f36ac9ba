"""Validation of the ML force field against NEGF: agreement numbers, tables and figures.

Inputs are results of earlier steps only: the per-run analyses (``holstein.stages.analyse``:
a JSON summary and a CSV time series per run), the training metrics, the model's errors on
the NEGF reference runs (``holstein.stages.reference_errors``), and what the runs cost (the
Snakemake benchmark files and the runs' cost files).  No trajectory is read and no model is
loaded here.  Outputs: ``metrics.json``, the same numbers as HTML tables for the report,
and the figures: wall velocity against bias, order-parameter decay, kymographs, device
current against time, the I-V curve before and after the resistance switch, the paired
ML - NEGF differences with their intervals, and the committee deviation of the reference
frames against their error.  The cost per step goes to outputs of its own
(``validation_cost``): a re-run reproduces every other output byte for byte.

Verdict (``holstein.report.comparison.paired_difference``): per bias and quantity, the
seed-by-seed difference ML_s - NEGF_s relative to the NEGF mean, its 90 % t interval over
the seeds, and ``equivalent`` / ``differs`` / ``unresolved`` against +-``margin``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from holstein.data.atomic import write_text_atomic
from holstein.data.series import profile
from holstein.ml.committee_file import expected_force_rmse
from holstein.report import plotting as pl
from holstein.report.comparison import CONFIDENCE, paired_difference, seed_statistics
from holstein.report.tables import html_page, number

PROVIDER_ORDER = ("negf", "ml")
# Per-run quantities (holstein.stages.analyse summaries) compared ML against NEGF at every bias,
# with their units.  late_current before initial_current: the latter is judged on the
# former's scale.  The series_* quantities are the ML bond currents read in series
# (observables.series_current) against NEGF's exact current (both read-outs coincide).
COMPARED = {
    "wall_velocity": "sites per ħ/t",
    "half_decay_time": "ħ/t",
    "late_current": "e t/ħ",
    "initial_current": "e t/ħ",
    "switching_time": "ħ/t",
    "series_late_current": "e t/ħ",
    "series_switching_time": "ħ/t",
}
REFERENCE_KEYS = ("reference_force_rmse", "reference_current", "committee")
# The current after the switch is compared only on the seeds whose NEGF run switched: an
# insulating run's late current is ~1e-7, and a difference relative to it means nothing.
AFTER_THE_SWITCH = ("late_current", "series_late_current")


def read_runs(summaries, series) -> dict:
    """(provider, bias) -> seed -> (summary, time series) from the per-run analyses."""
    runs = defaultdict(dict)
    frames = {Path(p).with_suffix("").as_posix(): p for p in series}
    for path in summaries:
        summary = json.loads(Path(path).read_text())
        key = Path(path).with_suffix("").as_posix()
        runs[(summary["provider"], summary["bias"])][summary["seed"]] = (
            summary,
            pd.read_csv(frames[key]),
        )
    return runs


def paired_quantity(runs: dict, reference: dict, quantity: str, margin: float,
                    scale: float | None = None) -> dict:
    """``paired_difference`` of one quantity between two sets of runs, ``{seed: summary}``
    each, against ``reference``; a current after the switch only on the seeds whose
    reference run switched (``AFTER_THE_SWITCH``)."""
    seeds = {s for s, r in reference.items()
             if quantity not in AFTER_THE_SWITCH or r.get("switched", True)}
    return paired_difference({s: r.get(quantity) for s, r in runs.items() if s in seeds},
                             {s: r.get(quantity) for s, r in reference.items() if s in seeds},
                             margin, scale)


def time_step_error(summaries, margin: float) -> dict:
    """bias -> quantity -> the paired difference NEGF(dt) - NEGF(dt / 2) over the seeds,
    relative to the dt / 2 mean: the reference's own discretisation error (the two runs
    of a seed feel the same Brownian path).  ``summaries``: the analyses of the check,
    under ``.../coarse/`` and ``.../fine/``."""
    values = defaultdict(lambda: defaultdict(dict))
    for path in summaries:
        summary = json.loads(Path(path).read_text())
        values[summary["bias"]][Path(path).parent.name][summary["seed"]] = summary
    return {f"{bias:g}": {q: paired_quantity(runs["coarse"], runs["fine"], q, margin)
                          for q in PAIRED_PANELS}
            for bias, runs in sorted(values.items())}


def job_seconds_per_step(benchmarks, n_steps) -> dict[str, list[float]]:
    """Wall seconds per Brownian step of every run job, per provider (benchmark TSVs)."""
    per = defaultdict(list)
    for path in benchmarks:
        provider = Path(path).parent.name
        seconds = pd.read_csv(path, sep="\t")["s"].iloc[0]
        per[provider].append(seconds / (n_steps + 1))
    return dict(per)


def loop_seconds_per_step(run_costs) -> dict[str, list[float]]:
    """Seconds per step of the integration loop alone, per provider (the runs' cost files,
    ``holstein.pipeline.runs.simulate``)."""
    per = defaultdict(list)
    for path in run_costs:
        per[Path(path).parent.name].append(json.loads(Path(path).read_text())["seconds_per_step"])
    return dict(per)


def _medians(per: dict) -> dict[str, float]:
    return {p: float(np.median(v)) for p, v in per.items()}


def compare(runs, biases, trained, margin: float) -> tuple[dict, pd.DataFrame]:
    """Seed statistics and the paired verdict per bias and quantity, and the seed
    statistics as a long table (one row per provider and bias; columns
    ``<quantity>_mean``, ``_std``, ``_n``)."""
    rows, per_bias = [], {}
    for bias in biases:
        entry = {"interpolated": bias not in trained}
        summaries = {p: {seed: s for seed, (s, _) in runs[(p, bias)].items()}
                     for p in PROVIDER_ORDER}
        for quantity in COMPARED:
            stats = {p: seed_statistics([s.get(quantity) for s in summaries[p].values()])
                     for p in PROVIDER_ORDER}
            # The insulating current is ~0: compare it on the scale of the switched current
            # (the NEGF mean over the runs that switched).
            scale = (entry["late_current"]["paired"]["scale"]
                     if quantity == "initial_current" else None)
            entry[quantity] = {**stats, "paired": paired_quantity(
                summaries["ml"], summaries["negf"], quantity, margin, scale)}
        entry["mean_kirchhoff_spread"] = {
            p: seed_statistics([s.get("mean_kirchhoff_spread")
                                for s, _ in runs[(p, bias)].values()])
            for p in PROVIDER_ORDER}
        per_bias[f"{bias:g}"] = entry
        for p in PROVIDER_ORDER:
            row = {"provider": p, "bias": bias, "n_runs": len(runs[(p, bias)])}
            for quantity in COMPARED:
                for stat in ("mean", "std", "n"):
                    row[f"{quantity}_{stat}"] = entry[quantity][p][stat]
            rows.append(row)
    return per_bias, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Tables (HTML, for the report)
# --------------------------------------------------------------------------------------

def _statistic(stats: dict) -> str:
    if not stats["n"]:
        return "–"
    return f"{number(stats['mean'])} ± {number(stats['std'])} (n = {stats['n']})"


def _percent(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:+.1f} %"


def _interval(paired: dict) -> str:
    low, high = paired["interval"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"[{100 * low:+.1f}, {100 * high:+.1f}] %"


def _verdict(paired: dict) -> str:
    if paired["verdict"] != "unresolved":
        return paired["verdict"]
    if paired["n"] == 0:
        return "unresolved (no seed pair with finite values)"
    if not paired["scale"] > 0:
        return "unresolved (the NEGF mean is 0: no scale)"
    if paired["n"] < 2:
        return "unresolved (one seed pair: no interval)"
    if paired["seeds_needed"] is None:
        return "unresolved (the mean lies on the margin)"
    return f"unresolved: {paired['seeds_needed']} seeds needed"


def metrics_tables(metrics: dict) -> dict[str, pd.DataFrame]:
    """The numbers of ``metrics.json`` as titled tables (strings, units in the headers)."""
    tables = {}
    rows = []
    for bias, entry in metrics["per_bias"].items():
        for quantity, unit in COMPARED.items():
            paired = entry[quantity]["paired"]
            rows.append({
                "bias V (t/e)": bias,
                "training bias": "no" if entry["interpolated"] else "yes",
                "quantity": quantity.replace("_", " "),
                "unit": unit,
                "NEGF: mean ± std over seeds": _statistic(entry[quantity]["negf"]),
                "ML: mean ± std over seeds": _statistic(entry[quantity]["ml"]),
                "paired (ML − NEGF) / scale: mean": _percent(paired["mean"]),
                f"{100 * paired['confidence']:.0f} % interval": _interval(paired),
                "seed pairs": number(paired["n"]),
                "verdict": _verdict(paired),
            })
    tables["ML against NEGF per validation bias (" + metrics["criterion"] + ")"] = (
        pd.DataFrame(rows))

    steps = metrics.get("time_step_error") or {}
    if steps:
        tables["The NEGF reference's own time-step error: NEGF(dt) − NEGF(dt/2), same "
               "Brownian paths, relative to the dt/2 mean"] = pd.DataFrame(
            [{"bias V (t/e)": bias, "quantity": quantity.replace("_", " "),
              "paired mean": _percent(paired["mean"]),
              f"{100 * paired['confidence']:.0f} % interval": _interval(paired),
              "seed pairs": number(paired["n"]),
              "within the margin": _verdict(paired)}
             for bias, entry in steps.items() for quantity, paired in entry.items()])

    force = metrics.get("reference_force_rmse") or {}
    tables["ML force error on the NEGF reference runs (held-out seeds, pooled per bias)"] = (
        pd.DataFrame([{"bias V (t/e)": b, "RMSE (t)": number(r["rmse"]),
                       "NEGF force std (t)": number(r["force_std"]),
                       "RMSE / std": number(r["relative_rmse"]),
                       "snapshots": number(r["n_snapshots"])} for b, r in force.items()]))
    current = metrics.get("reference_current")
    if current:
        tables["ML device current on the NEGF reference runs after the switch "
               "(errors relative to the mean NEGF |I|)"] = pd.DataFrame(
            [{"bias V (t/e)": b, "NEGF mean I (e t/ħ)": number(r["negf_mean_current"]),
              "ML mean I (e t/ħ)": number(r["ml_mean_current"]),
              "RMSE / mean |I|": number(r["relative_rmse"]),
              "error of the mean / mean |I|": number(r["relative_error_of_mean"]),
              "in series: ML mean I (e t/ħ)": number(r["series_ml_mean_current"]),
              "in series: RMSE / mean |I|": number(r["series_relative_rmse"]),
              "Kirchhoff spread / mean |I|": number(r["ml_relative_kirchhoff_spread"]),
              "snapshots": number(r["n_snapshots"]), "runs": number(r["n_runs"])}
             for b, r in current.items()])

    committee = metrics.get("committee")
    if committee:
        tables[f"Committee of {committee['members']} force fields (predictor: "
               f"{committee['predictor']}): does the force deviation rank the reference "
               "frames by the predictor's force RMSE against NEGF?"] = pd.DataFrame(
            [{"bias V (t/e)": b,
              "Spearman, max deviation": number(r["spearman_max_deviation"]),
              "Spearman, mean deviation": number(r["spearman_mean_deviation"]),
              "Spearman, max deviation vs max error":
                  number(r.get("spearman_max_deviation_max_error")),
              "median max deviation (t)": number(r["median_max_deviation"]),
              "predictor RMSE / std": number(r["predictor_relative_rmse"]),
              "members' RMSE / std": ", ".join(number(v) for v in r["member_relative_rmse"]),
              "frames": number(r["n_frames"])}
             for b, r in committee["per_bias"].items()]
            + [{"bias V (t/e)": "all", "Spearman, max deviation":
                number(committee["spearman_max_deviation"]),
                "Spearman, mean deviation": number(committee["spearman_mean_deviation"]),
                "Spearman, max deviation vs max error":
                    number(committee.get("spearman_max_deviation_max_error")),
                "frames": number(committee["n_frames"])}])
        calibration = committee.get("calibration")
        if calibration:
            tables["The committee deviation as an expected force error: expected frame "
                   f"RMSE = scale x the {calibration['statistic']} deviation over the sites"
                   ] = pd.DataFrame([{
                       "scale": number(calibration["scale"]),
                       "frames whose true RMSE is within a factor 2 of it":
                           f"{100 * calibration['within_factor_2']:.0f} %",
                       "judged on": calibration["judged_on"],
                       "frames": number(calibration["n_frames"]),
                       "runs": number(calibration["n_runs"])}])

    members = metrics["model"]
    tables["Training of the force field, per member of the committee"] = pd.DataFrame(
        [{"member": k, "best epoch": number(model.get("best_epoch")),
          "epochs run": number(model.get("epochs_run")),
          "best validation loss (normalised MSE)": number(model.get("best_val_loss")),
          "parameters": number(model.get("n_parameters")),
          "training / validation snapshots":
              f"{number(model.get('n_train_snapshots'))} / "
              f"{number(model.get('n_val_snapshots'))}"} for k, model in enumerate(members)])
    tables["Force error on the held-out training trajectories (each member's own)"] = (
        pd.DataFrame(
            [{"member": k, "bias V (t/e)": b, "RMSE (t)": number(r["rmse"]),
              "NEGF force std (t)": number(r["force_std"]),
              "RMSE / std": number(r["relative_rmse"]), "force values": number(r["n_values"])}
             for k, model in enumerate(members)
             for b, r in (model.get("held_out_force_rmse") or {}).items()]))
    return tables


def cost_tables(cost: dict) -> dict[str, pd.DataFrame]:
    """The cost per Brownian step as a table (``validation_cost``)."""
    jobs, loops = cost["cost_per_step_seconds"], cost["loop_cost_per_step_seconds"]
    return {"Cost per Brownian step (wall-clock seconds, median over runs)": pd.DataFrame(
        [{"provider": pl.PROVIDERS[p].name, "job wall time / steps": number(jobs.get(p)),
          "integration loop": number(loops.get(p))} for p in PROVIDER_ORDER]
        + [{"provider": "NEGF / ML",
            "job wall time / steps": number(cost["speedup_negf_over_ml"]),
            "integration loop": number(cost["loop_speedup_negf_over_ml"])}])}


def _ratio(medians: dict) -> float:
    return medians["negf"] / medians["ml"] if {"negf", "ml"} <= set(medians) else math.nan


def validation_cost(benchmarks, run_costs, n_steps, outputs) -> dict:
    """What the runs cost on this machine, kept apart from the validation's numbers (a
    re-run on another machine reproduces those, not these): the job wall time per step
    (``benchmarks``, Snakemake's files) and the integration loop's (``run_costs``), per
    provider, their medians and the NEGF / ML ratios.  ``outputs``: ``cost_metrics``
    (JSON), ``cost_tables`` (HTML) and ``cost`` (figure)."""
    job, loop = job_seconds_per_step(benchmarks, n_steps), loop_seconds_per_step(run_costs)
    costs, loop_costs = _medians(job), _medians(loop)
    cost = {
        # The job wall time includes start-up (imports, model loading); the loop time not.
        "cost_per_step_seconds": costs,
        "speedup_negf_over_ml": _ratio(costs),
        "loop_cost_per_step_seconds": loop_costs,
        "loop_speedup_negf_over_ml": _ratio(loop_costs),
    }
    plot_cost(job, loop, outputs["cost"])
    write_text_atomic(outputs["cost_tables"], html_page(
        "Cost of the validation runs", "Wall-clock seconds on the machine that ran them.",
        cost_tables(cost)))
    write_text_atomic(outputs["cost_metrics"], json.dumps(cost, indent=2, default=float))
    return cost


def metrics_html(metrics: dict, setting: str) -> str:
    """A stand-alone HTML page with every table of ``metrics_tables``."""
    return html_page("Validation metrics: ML force field against NEGF",
                     f"{setting}. {pl.UNITS_NOTE}.", metrics_tables(metrics))


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------

def _seeds(runs, provider) -> int:
    return max((len(v) for (p, _), v in runs.items() if p == provider), default=0)


def plot_velocity(table, n_seeds, training_biases, setting, path):
    plt = pl.pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.8), layout="constrained")
    spacing = pl.bias_axis(ax, table.bias, training_biases)
    for provider in PROVIDER_ORDER:
        rows = table[table.provider == provider]
        pl.errorbars(ax, rows.bias, rows.wall_velocity_mean, rows.wall_velocity_std, provider,
                     spacing, n_seeds[provider])
        # No finite velocity at a bias: the CDW collapsed too fast for a wall to be followed.
        height = 4 + 10 * PROVIDER_ORDER.index(provider)
        for bias in rows.bias[~np.isfinite(rows.wall_velocity_mean)]:
            ax.annotate(f"{pl.PROVIDERS[provider].name}: no wall", (bias, 0),
                        xycoords=("data", "axes fraction"), xytext=(0, height),
                        textcoords="offset points", ha="center", fontsize=7,
                        color=pl.PROVIDERS[provider].color)
    ax.set_ylabel(pl.VELOCITY)
    pl.suptitle(fig, "Domain-wall velocity against bias", f"{setting}; grey: training biases")
    ax.legend(fontsize=8)
    pl.finish(fig, path)


def plot_iv(table, n_seeds, training_biases, setting, path):
    """|I| against bias on a log axis before and after the switch; open markers: I < 0."""
    plt = pl.pyplot()
    branches = (("initial_current", "before the switch (CDW insulator)"),
                ("late_current", "after the switch (metal)"))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained", sharey=True)
    magnitudes = np.abs(np.concatenate([table[f"{c}_mean"].to_numpy() for c, _ in branches]))
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    floor = 0.3 * magnitudes.min() if len(magnitudes) else 1e-12
    negative, top = False, floor
    for ax, (column, branch) in zip(axes, branches, strict=True):
        spacing = pl.bias_axis(ax, table.bias, training_biases)
        for provider in PROVIDER_ORDER:
            style = pl.PROVIDERS[provider]
            rows = table[table.provider == provider]
            mean = rows[f"{column}_mean"].to_numpy()
            std = rows[f"{column}_std"].to_numpy()
            if not np.isfinite(mean).any():
                continue
            x = rows.bias.to_numpy() + style.offset * spacing
            size = np.abs(mean)
            # A bar whose std exceeds |I| reaches the bottom of the axis: consistent with 0.
            lower = np.clip(size - floor, 0, std)
            ax.plot(x, size, color=style.color, linestyle=style.linestyle, lw=1)
            for sign, face in ((mean > 0, style.color), (mean < 0, "white")):
                if sign.any():
                    ax.errorbar(x[sign], size[sign], yerr=[lower[sign], std[sign]],
                                color=style.color, marker=style.marker, mfc=face,
                                linestyle="none", capsize=3, markersize=5)
            negative |= bool((mean < 0).any())
            top = max(top, float(np.nanmax(size + std)))
        ax.set_yscale("log")
        ax.set_title(branch, fontsize=9)
    axes[0].set_ylim(floor, 2 * top)  # shared by both panels
    axes[0].set_ylabel(pl.ABS_CURRENT)
    handles = pl.provider_legend_handles(n_seeds)
    handles.append(pl.legend_handle("filled: I > 0", color="0.3", marker="o", linestyle="none"))
    if negative:
        handles.append(pl.legend_handle("open: I < 0 (|I| shown)", color="0.3", marker="o",
                                        mfc="white", linestyle="none"))
    axes[1].legend(handles=handles, fontsize=7)
    pl.suptitle(fig, "Device current against bias (log scale)",
                f"{setting}; grey: training biases")
    pl.finish(fig, path)


# The quantities the verdict figure shows, each in its own panel.
PAIRED_PANELS = ("wall_velocity", "half_decay_time", "late_current", "switching_time")
VERDICT_COLOURS = {"equivalent": "tab:green", "differs": "tab:red", "unresolved": "tab:gray"}
# The verdict figure's axis ends at this (per cent): an off-scale mean is drawn at the edge
# with its value written beside it, so that one huge difference does not flatten the rest.
PAIRED_AXIS_LIMIT = 60.0


def plot_paired(per_bias: dict, margin: float, setting: str, path,
                time_step: dict | None = None) -> None:
    """Per quantity, the paired ML - NEGF difference of every bias with its interval, the
    single seed pairs as dots, the equivalence margin as a band, and (black diamonds) the
    reference's own time-step error NEGF(dt) - NEGF(dt / 2) where it was measured."""
    time_step = time_step or {}
    plt = pl.pyplot()
    fig, axes = plt.subplots(1, len(PAIRED_PANELS), figsize=(4 * len(PAIRED_PANELS), 3.6),
                             layout="constrained", squeeze=False)
    biases = list(per_bias)
    for ax, quantity in zip(axes[0], PAIRED_PANELS, strict=True):
        ax.axhspan(-100 * margin, 100 * margin, color="tab:green", alpha=0.12,
                   label=f"±{100 * margin:g} % margin")
        ax.axhline(0, color="k", lw=0.6)
        drawn, off_scale = 0, []
        for k, bias in enumerate(biases):
            paired = per_bias[bias][quantity]["paired"]
            if not np.isfinite(paired["mean"]):
                continue
            drawn += 1
            if abs(100 * paired["mean"]) > PAIRED_AXIS_LIMIT:
                off_scale.append((k, 100 * paired["mean"],
                                  VERDICT_COLOURS[paired["verdict"]]))
            colour = VERDICT_COLOURS[paired["verdict"]]
            low, high = paired["interval"]
            if np.isfinite(low) and np.isfinite(high):
                ax.errorbar([k], [100 * paired["mean"]],
                            yerr=[[100 * (paired["mean"] - low)], [100 * (high - paired["mean"])]],
                            fmt="o", color=colour, capsize=4)
            else:
                ax.plot([k], [100 * paired["mean"]], "o", color=colour, mfc="none")
            ax.plot([k + 0.15] * paired["n"], [100 * d for d in paired["differences"]], ".",
                    color=colour, alpha=0.5, ms=4)
            step = time_step.get(bias, {}).get(quantity)
            if step and step["n"] > 1:
                low, high = step["interval"]
                ax.errorbar([k - 0.2], [100 * step["mean"]],
                            yerr=[[100 * (step["mean"] - low)], [100 * (high - step["mean"])]],
                            fmt="D", color="k", ms=4, capsize=3)
        if not drawn:
            ax.text(0.5, 0.5, "no seed pair with finite values\n(not measured in these runs)",
                    transform=ax.transAxes, ha="center", va="center", fontsize=8)
        low, high = ax.get_ylim()
        if low < -PAIRED_AXIS_LIMIT or high > PAIRED_AXIS_LIMIT:
            ax.set_ylim(max(low, -PAIRED_AXIS_LIMIT), min(high, PAIRED_AXIS_LIMIT))
        for k, value, colour in off_scale:
            edge = np.sign(value) * 0.93 * PAIRED_AXIS_LIMIT
            ax.plot([k], [edge], "^" if value > 0 else "v", color=colour, ms=8)
            ax.annotate(f"{value:+.0f} %\n(off scale)", (k, edge), xytext=(6, -4),
                        textcoords="offset points", fontsize=7, color=colour,
                        va="top" if value > 0 else "bottom")
        ax.set_xticks(range(len(biases)), biases)
        ax.set_xlabel("bias V (t/e)")
        ax.set_title(quantity.replace("_", " "))
    axes[0][0].set_ylabel("(ML − NEGF) / NEGF mean (%)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=f"ML − NEGF: {v}")
               for v, c in VERDICT_COLOURS.items()]
    if time_step:
        handles.append(plt.Line2D([], [], marker="D", ls="", color="k",
                                  label="NEGF(dt) − NEGF(dt/2)"))
    fig.legend(handles=handles + axes[0][0].get_legend_handles_labels()[0][:1],
               fontsize=8, loc="outside right center")
    fig.suptitle(f"Paired ML − NEGF differences, {100 * CONFIDENCE:.0f} % t intervals over "
                 f"seeds (dots: single seed pairs)\n{setting}", fontsize=9)
    pl.finish(fig, path)


def plot_time_series(runs, biases, column, ylabel, titles, path, extra_curves=()):
    """One panel per bias: ``column`` of NEGF and ML, seed mean ± std as a band.

    ``titles``: lines of the figure title.  ``extra_curves``: more (provider, column,
    label, linestyle) to draw, where present.
    """
    plt = pl.pyplot()
    fig, axes = plt.subplots(1, len(biases), figsize=(3.6 * len(biases), 3.3), sharey=True,
                             squeeze=False, layout="constrained")
    curves = [(p, column, None, None) for p in PROVIDER_ORDER] + list(extra_curves)
    for ax, bias in zip(axes[0], biases, strict=True):
        for provider, name, label, linestyle in curves:
            frames = [s for _, s in runs[(provider, bias)].values()]
            if not frames or name not in frames[0] or not np.isfinite(frames[0][name]).any():
                continue
            times, values = pl.stack_frames(frames, name)
            line = {"linestyle": linestyle} if linestyle else {}
            pl.band(ax, times, values, provider, label, **line)
            ax.set_xlim(times[0], times[-1])
        ax.set_title(f"V = {bias:g} t/e", fontsize=9)
        ax.set_xlabel(pl.TIME)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    pl.suptitle(fig, *titles)
    pl.finish(fig, path)


def plot_kymographs(runs, biases, setting, path):
    """phi(x)/phi_0 averaged over seeds, NEGF and ML side by side, every seed's wall."""
    plt = pl.pyplot()
    fig, axes = plt.subplots(len(biases), 2, figsize=(8.5, 2.5 * len(biases) + 0.6),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    image = None
    for row, bias in zip(axes, biases, strict=True):
        for ax, provider in zip(row, PROVIDER_ORDER, strict=True):
            frames = [s for _, s in runs[(provider, bias)].values()]
            n = min(len(f) for f in frames)
            phi = np.mean([profile(f)[:n] for f in frames], axis=0)
            image = pl.kymograph(ax, frames[0]["time"].to_numpy()[:n], phi,
                                 [f["wall_position"].to_numpy()[:n] for f in frames])
            ax.set_title(f"{pl.PROVIDERS[provider].name}, V = {bias:g} t/e "
                         f"({len(frames)} seed{'s' if len(frames) > 1 else ''})", fontsize=9)
            ax.set_xlabel("")
            ax.set_ylabel("")
    fig.supxlabel(pl.TIME, fontsize=10)
    fig.supylabel(pl.DISTANCE, fontsize=10)
    pl.profile_colorbar(fig, image, axes,
                        label=r"$\phi(x)/\phi_0$, mean over $y$ and over seeds")
    pl.suptitle(fig, "Kymographs: staggered order averaged over seeds (colour), the wall of "
                "each seed (dashed)", setting)
    pl.finish(fig, path, dpi=110)


def plot_cost(job, loop, path):
    """Seconds per step: job wall time / steps and the integration loop, median and runs."""
    plt = pl.pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    names = [p for p in PROVIDER_ORDER if p in job]
    x = np.arange(len(names))
    for shift, per, what, hatch in ((-0.2, job, "job wall time / steps", None),
                                    (0.2, loop, "integration loop only", "//")):
        medians = [float(np.median(per[n])) if per.get(n) else np.nan for n in names]
        ax.bar(x + shift, medians, 0.38, color=[pl.PROVIDERS[n].color for n in names],
               alpha=0.6, hatch=hatch, edgecolor="k")
        ax.bar([0], [np.nan], color="white", hatch=hatch, edgecolor="k",
               label=f"{what}: median over runs")  # a legend entry in neither colour
        for i, n in enumerate(names):
            ax.plot(np.full(len(per.get(n, [])), x[i] + shift), per.get(n, []), "k.", ms=3)
    ax.plot([], [], "k.", ms=3, label="each run")
    ax.set_xticks(x, [pl.PROVIDERS[n].name for n in names])
    ax.set_yscale("log")
    ax.set_ylabel(pl.SECONDS_PER_STEP)
    medians = {k: _medians(v) for k, v in (("job", job), ("loop", loop))}
    if {"negf", "ml"} <= set(job):
        ax.set_title(f"Cost per step; NEGF/ML = {medians['job']['negf'] / medians['job']['ml']:.2g}"
                     f"x (job), {medians['loop']['negf'] / medians['loop']['ml']:.2g}x (loop)",
                     fontsize=9)
    ax.legend(fontsize=7)
    pl.finish(fig, path, note="wall-clock seconds on the machine that ran the pipeline")


def plot_committee(committee: dict | None, trust_statistic: str, trust_lo: float,
                   trust_hi: float, setting: str, path) -> None:
    """The committee deviation of every NEGF reference frame (its ``trust_statistic``:
    the mean or the maximum over the sites) against the predictor's force RMSE on it, one
    colour per bias, with the trust levels and the Spearman correlations; for a committee
    of one, a figure that says so."""
    plt = pl.pyplot()
    if not committee:
        pl.no_committee_figure(path)
        return
    frames = {k: np.asarray(v, dtype=float) for k, v in committee["frames"].items()}
    statistic = f"{trust_statistic}_deviation"
    fig, ax = plt.subplots(figsize=(6.2, 4.6), layout="constrained")
    for k, bias in enumerate(np.unique(frames["bias"])):
        sel = frames["bias"] == bias
        rho = committee["per_bias"][f"{bias:g}"][f"spearman_{statistic}"]
        ax.loglog(frames[statistic][sel], frames["force_rmse"][sel], ".", ms=2.5,
                  alpha=0.5, color=f"C{k + 2}", label=f"V = {bias:g} t/e: ρ = {number(rho)}")
    pl.trust_lines(ax, trust_lo, trust_hi, vertical=True)
    ax.set_xlabel(f"{trust_statistic} over sites of the {pl.FORCE_DEVIATION} (the trust "
                  "statistic)")
    ax.set_ylabel("force RMSE of the predictor against NEGF ($t$)")
    ax.legend(fontsize=7, markerscale=3)
    pl.suptitle(fig, f"Committee of {committee['members']} ({committee['predictor']} "
                f"predictor) on the NEGF reference frames: Spearman ρ = "
                f"{number(committee[f'spearman_{statistic}'])} over all "
                f"{committee['n_frames']} frames", setting)
    pl.finish(fig, path)


def run_figure_name(provider: str, bias: float, seed: int) -> str:
    """File name of one run's figure; the report reads provider, bias and seed from it."""
    return f"{pl.PROVIDERS[provider].name}_V{bias:g}_s{seed}.png"


def _run_numbers(summary: dict) -> str:
    """The summary numbers of one run, in words where a quantity does not exist."""
    v = summary["wall_velocity"]
    wall = ("no wall (abrupt collapse)" if not math.isfinite(v)
            else "the wall did not propagate" if v == 0
            else f"wall velocity {number(v)} sites per ħ/t")
    decay = summary["half_decay_time"]
    decay = (f"half-decay time {number(decay)} ħ/t" if math.isfinite(decay)
             else "the order did not decay to half")
    switch = summary["switching_time"]
    switch = (f"switching time {number(switch)} ħ/t" if math.isfinite(switch)
              else "no resistance switch")
    return f"{wall}, {decay}, {switch}"


def ml_expected_errors(runs: dict, calibration: dict | None) -> dict | None:
    """Median and maximum over the recorded frames of every ML run's expected force RMSE
    (``holstein.ml.committee_file.expected_force_rmse``), keyed by V{bias}_s{seed}."""
    out = {}
    for (provider, bias), by_seed in sorted(runs.items()):
        for seed, (_, frame) in sorted(by_seed.items()):
            expected = expected_force_rmse(calibration, frame) if provider == "ml" else None
            if expected is not None:
                out[f"V{bias:g}_s{seed}"] = {"median": float(np.median(expected)),
                                             "max": float(expected.max())}
    if not out:
        return None
    return {"statistic": calibration["statistic"], "scale": calibration["scale"],
            "unit": "t", "runs": out}


def plot_run(summary: dict, frame: pd.DataFrame, setting: str, path,
             calibration: dict | None = None) -> None:
    """One run at a glance: its kymograph with the wall, the order and the current; for an
    ML run with a calibrated committee, every frame's expected force RMSE beside them."""
    plt = pl.pyplot()
    provider = summary["provider"]
    style = pl.PROVIDERS[provider]
    expected = expected_force_rmse(calibration, frame) if provider == "ml" else None
    panels = 2 if expected is None else 3
    fig = plt.figure(figsize=(8.5 if panels == 2 else 11, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, panels, height_ratios=[1.3, 1])
    ax = fig.add_subplot(grid[0, :])
    image = pl.run_kymograph(ax, frame)
    pl.profile_colorbar(fig, image, ax)
    pl.suptitle(fig, f"{style.name} run, V = {summary['bias']:g} t/e, seed {summary['seed']}: "
                f"{_run_numbers(summary)}", setting)
    times = frame["time"].to_numpy()
    ax = fig.add_subplot(grid[1, 0])
    ax.plot(times, frame["order_parameter"], **style.line(marker=None))
    ax.set_xlabel(pl.TIME)
    ax.set_ylabel(pl.ORDER)
    ax.set_xlim(times[0], times[-1])
    ax = fig.add_subplot(grid[1, 1])
    ax.plot(times, frame["current"], label="mean over cross-sections" if provider == "ml"
            else "exact steady state", **style.line(marker=None))
    if provider == "ml" and np.isfinite(frame["series_current"]).any():
        ax.plot(times, frame["series_current"], label="cross-sections in series",
                **style.line(marker=None, linestyle=":"))
    ax.axhline(summary["late_current"], color="0.5", lw=0.8,
               label=f"late current {number(summary['late_current'])}")
    ax.set_xlabel(pl.TIME)
    ax.set_ylabel(pl.CURRENT)
    ax.set_xlim(times[0], times[-1])
    ax.legend(fontsize=7)
    if expected is not None:
        ax = fig.add_subplot(grid[1, 2])
        ax.semilogy(times, expected, color="C1", lw=1)
        ax.set_xlabel(pl.TIME)
        ax.set_ylabel("expected force RMSE ($t$)")
        ax.set_xlim(times[0], times[-1])
        ax.set_title(f"{number(calibration['scale'])} x the {calibration['statistic']} "
                     "committee deviation", fontsize=8)
    pl.finish(fig, path, dpi=100)


def make_validation(summaries, series, benchmarks, run_costs, model_metrics, reference_errors,
                    n_steps, training_biases, outputs, lattice, physics, dynamics,
                    margin: float, trust: tuple[str, float, float],
                    time_step_summaries=()) -> dict:
    """Verdicts, tables and figures from the analyses (see the module docstring).

    ``margin``: the relative ML - NEGF difference within which a quantity is equivalent.
    ``time_step_summaries``: the analyses of the time-step check (``time_step_error``;
    none: no check), shown beside the ML - NEGF differences.

    ``model_metrics``: the training metrics of every member of the committee, member k
    at index k (``metrics["model"]``, without the loss histories).

    ``benchmarks``, ``run_costs``: what the runs cost (``validation_cost``).

    ``outputs``: paths ``metrics`` (JSON), ``tables`` (HTML), the figures ``velocity``,
    ``decay``, ``kymographs``, ``current``, ``iv_curve``, ``paired``, ``committee``
    (``plot_committee``, with ``trust``: the trust statistic, trust_lo, trust_hi), and
    ``runs``, a directory for one figure per run (``plot_run``, named by
    ``run_figure_name``); and the cost outputs of ``validation_cost``.
    """
    runs = read_runs(summaries, series)
    biases = sorted({b for _, b in runs})
    trained = {float(b) for b in training_biases}
    per_bias, table = compare(runs, biases, trained, margin)
    members = [json.loads(Path(p).read_text()) for p in model_metrics]
    reference = json.loads(Path(reference_errors).read_text())
    committee = reference.get("committee")
    calibration = committee.get("calibration") if committee else None
    if committee:  # metrics.json keeps the summaries; the figure draws every frame
        reference["committee"] = {k: v for k, v in committee.items() if k != "frames"}
    metrics = {
        # wall velocities and decay times depend on the sample: compare equal lattices only
        "lattice": {"Lx": int(lattice["Lx"]), "Ly": int(lattice["Ly"])},
        "criterion": (f"paired ML − NEGF difference over seeds, relative to the NEGF mean: "
                      f"{100 * CONFIDENCE:.0f} % t interval inside ±{100 * margin:g} % is "
                      "equivalent, wholly outside it differs"),
        "margin": margin,
        # NEGF(dt) - NEGF(dt / 2) on the same Brownian paths, where it was measured
        "time_step_error": time_step_error(time_step_summaries, margin),
        "per_bias": per_bias,
        "model": [{k: v for k, v in model.items() if k != "history"} for model in members],
        **{k: reference[k] for k in REFERENCE_KEYS},
        # what the calibrated committee deviation says of every ML run's force error
        "ml_expected_force_error": ml_expected_errors(runs, calibration),
    }
    setting = pl.setting(lattice, physics, n_steps, dynamics["dt"])
    n_seeds = {p: _seeds(runs, p) for p in PROVIDER_ORDER}
    plot_velocity(table, n_seeds, sorted(trained), setting, outputs["velocity"])
    plot_time_series(runs, biases, "order_parameter", pl.ORDER,
                     ("Decay of the CDW order, NEGF and ML", setting), outputs["decay"])
    plot_kymographs(runs, biases, setting, outputs["kymographs"])
    plot_time_series(runs, biases, "current", pl.CURRENT,
                     ("Device current: NEGF, and ML bond heads read as the mean over "
                      "cross-sections (dashed) and cross-sections in series (dotted)", setting),
                     outputs["current"],
                     extra_curves=(("ml", "series_current", "ML, in series", ":"),))
    plot_iv(table, n_seeds, sorted(trained), setting, outputs["iv_curve"])
    plot_paired(per_bias, margin, setting, outputs["paired"], metrics["time_step_error"])
    validation_cost(benchmarks, run_costs, n_steps, outputs)
    plot_committee(committee, *trust, setting, outputs["committee"])
    for (provider, bias), by_seed in sorted(runs.items()):
        for seed, (summary, frame) in sorted(by_seed.items()):
            plot_run(summary, frame, setting,
                     Path(outputs["runs"]) / run_figure_name(provider, bias, seed),
                     calibration)
    write_text_atomic(outputs["tables"], metrics_html(metrics, setting))
    write_text_atomic(outputs["metrics"], json.dumps(metrics, indent=2, default=float))
    return metrics
