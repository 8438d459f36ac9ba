"""An ML run on a lattice far beyond NEGF's reach, compared with the training-size runs.

The force field is local, so a model trained on a small lattice drives Brownian dynamics on
any larger one.  ``large_lattice_report`` takes the analysis of one such run
(``holstein.stages.analyse``), its trajectory and Snakemake benchmark, and the analyses of the
validation runs at the same bias on the pipeline's own lattice, and writes a figure
(kymograph, a snapshot of the staggered order with the wall in the sample, the wall
position against time beside the small-lattice runs) and ``metrics.json``: the wall
velocity on both lattices and the committee deviation; apart from them, as the
machine's measurements (``cost.json``), time and memory per step and the NEGF cost at the
large size extrapolated from the NEGF cost measured on the small one.

Committee deviation: with a committee of force fields the run records, per frame, the
force deviation on every site and its maximum and mean (``holstein.ml.committee``).
``deviation_metrics`` says where and when its trust statistic (the mean or the maximum
over the sites) exceeds the trust levels (``trust_lo``:
beyond it the model is not trusted; ``trust_hi``: beyond it the prediction is taken as
failed): the fraction of frames above each, the first time, the largest deviation and
when, the fraction of sites above ``trust_lo`` over time, and where the largest deviation
of a frame sits relative to the domain wall.  ``plot_deviation`` draws it: the kymograph
of the deviation (maximum over y per column) with the wall, the maximum and mean against
time with the trust levels, and the deviation map of the lattice when the wall is near
mid-sample and when the deviation is largest.

NEGF extrapolation: one steady state costs one dense complex eigendecomposition of the
N x N effective Hamiltonian (N = Lx Ly sites), O(N^3) time and a few N x N complex
matrices of memory (``NEGF_DENSE_MATRICES``).  Scaling the measured small-lattice cost
by (N / N_small)^3 includes that lattice's per-step overheads, which grow more slowly,
so it overestimates when N_small is small: it is an order of magnitude, and is labelled so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from holstein.data.atomic import write_text_atomic
from holstein.data.io import read_trajectory
from holstein.ml.active_learning import trust_values
from holstein.ml.committee_file import (
    check_run_members,
    expected_force_rmse,
    read_committee_file,
)
from holstein.physics.observables import cdw_bulk, staggered_order
from holstein.pipeline.resources import NEGF_DENSE_MATRICES
from holstein.report import plotting as pl
from holstein.report.comparison import seed_statistics
from holstein.report.tables import html_page, number


def negf_estimate(seconds_per_step: float, sites: int, target_sites: int) -> dict:
    """NEGF seconds and memory per step at ``target_sites`` from a cost measured at ``sites``."""
    ratio = target_sites / sites
    return {
        "measured_sites": int(sites),
        "measured_seconds_per_step": float(seconds_per_step),
        "scaling": "N^3 (dense eigendecomposition), N = Lx Ly",
        "seconds_per_step": float(seconds_per_step * ratio**3),
        "memory_gb": NEGF_DENSE_MATRICES * 16 * float(target_sites) ** 2 / 1e9,
    }


def _read_benchmark(path) -> dict:
    row = pd.read_csv(path, sep="\t").iloc[0]
    return {"job_seconds": float(row["s"]), "job_max_rss_mb": float(row["max_rss"])}


def _velocity(v: float) -> str:
    if not math.isfinite(v):
        return "no wall fitted"
    return f"v = {v:.3f}" if v else "v = 0 (the wall did not propagate)"


def plot_large_lattice(trajectory, series: pd.DataFrame, summary: dict, references: dict,
                       path) -> None:
    """Kymograph, a mid-run snapshot of the staggered order, wall position against time."""
    plt = pl.pyplot()
    arrays, meta = trajectory
    lx, ly = meta["Lx"], meta["Ly"]
    t = series["time"].to_numpy()
    wall = series["wall_position"].to_numpy()

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1.3, 1, 1.1]})
    ax = axes[0]
    image = pl.run_kymograph(ax, series)
    ax.set_title(f"Kymograph, ML, {lx} x {ly}, V = {meta['bias']:g} t/e", fontsize=10)
    pl.profile_colorbar(fig, image, ax)

    # The frame where the wall is closest to mid-sample shows its shape across y.
    finite = np.where(np.isfinite(wall), wall, -np.inf)
    k = int(np.argmin(np.abs(finite - lx / 2)))
    phi0 = cdw_bulk(arrays["q"][0])  # the start's bulk amplitude, as in the analyses
    ax = axes[1]
    image = ax.imshow(staggered_order(arrays["q"][k]).T / phi0, origin="lower", cmap="RdBu_r",
                      vmin=-1.2, vmax=1.2, aspect="auto")
    ax.set_xlabel(pl.DISTANCE)
    ax.set_ylabel("y (sites, periodic)")
    ax.set_title(f"Staggered order at t = {t[k]:.0f} ħ/t (wall near mid-sample)", fontsize=10)
    fig.colorbar(image, ax=ax, label=r"$\phi_i/\phi_0$")

    ax = axes[2]
    inset = ax.inset_axes([0.58, 0.1, 0.38, 0.38])
    ax.plot(t, wall, "k-", lw=1,
            label=f"{lx} x {ly} ML (1 seed): {_velocity(summary['wall_velocity'])}")
    small_runs = [s for runs in references.values() for _, s in runs]
    for provider, runs in references.items():
        if not runs:
            continue
        times, walls = pl.stack_frames([s for _, s in runs], "wall_position")
        v_small = seed_statistics([s["wall_velocity"] for s, _ in runs])["mean"]
        pl.band(ax, times, walls, provider, label=(
            f"{runs[0][0]['Lx']} x {runs[0][0]['Ly']} {pl.PROVIDERS[provider].name} "
            f"({pl.statistic_label(len(runs))}): {_velocity(v_small)}"))
        pl.band(inset, times, walls, provider)
    if small_runs:
        t_end = max(float(s["time"].iloc[-1]) for s in small_runs)
        inset.plot(t, wall, "k-", lw=1)
        inset.set_xlim(0, t_end)
        inset.set_ylim(0, max(float(np.nanmax(s["wall_position"])) for s in small_runs) + 1)
        inset.set_title("small lattice, same bias", fontsize=7)
        inset.tick_params(labelsize=6)
    else:
        inset.remove()
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel(pl.TIME)
    ax.set_ylabel(pl.WALL_POSITION)
    ax.set_title("Wall position; v: fitted wall velocity (sites per ħ/t)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    pl.finish(fig, path, dpi=110)


def deviation_metrics(arrays: dict, series: pd.DataFrame, trust_statistic: str,
                      trust_lo: float, trust_hi: float) -> dict | None:
    """Where and when the committee deviation exceeds the trust levels (module
    docstring); None for a run without a committee.  A frame is above a trust level when
    its ``trust_statistic`` (``holstein.ml.active_learning.trust_values``: the mean or
    the maximum over the sites) is.

    ``fraction_of_sites_above_trust_lo`` (the statistic ``max`` only: then a site above
    ``trust_lo`` is what puts its frame above it; the mean has no such site).
    ``offset_from_wall``: over the frames above ``trust_lo`` that have a wall, the column
    of the largest deviation minus the wall position (sites; > 0 ahead of the wall, in the
    CDW, < 0 behind it, in the metal): median and the 10 % and 90 % quantiles.
    """
    if "force_deviation_max" not in arrays:
        return None
    times = np.asarray(arrays["time"], dtype=float)
    largest = np.asarray(arrays["force_deviation_max"], dtype=float)
    statistic = trust_values(arrays, trust_statistic)

    def first_time(mask):
        return float(times[mask][0]) if mask.any() else math.nan

    result = {
        "trust_statistic": trust_statistic,
        "trust_lo": float(trust_lo),
        "trust_hi": float(trust_hi),
        "max_deviation": float(largest.max()),
        "time_of_max_deviation": float(times[int(np.argmax(largest))]),
        "median_frame_max_deviation": float(np.median(largest)),
        "mean_deviation": float(np.mean(arrays["force_deviation_mean"])),
        "fraction_of_frames_above_trust_lo": float(np.mean(statistic > trust_lo)),
        "fraction_of_frames_above_trust_hi": float(np.mean(statistic > trust_hi)),
        "first_time_above_trust_lo": first_time(statistic > trust_lo),
        "first_time_above_trust_hi": first_time(statistic > trust_hi),
    }
    field = arrays.get("force_deviation")
    if field is not None:
        if trust_statistic == "max":
            above = (field > trust_lo).reshape(len(field), -1).mean(axis=1)
            result["fraction_of_sites_above_trust_lo"] = {
                "mean_over_frames": float(above.mean()), "max": float(above.max()),
                "time_of_max": float(times[int(np.argmax(above))])}
        column = np.argmax(field.max(axis=2), axis=1)  # column of each frame's largest
        wall = series["wall_position"].to_numpy(dtype=float)
        use = (statistic > trust_lo) & np.isfinite(wall)
        offsets = column[use] - wall[use]
        result["offset_from_wall"] = (
            {"median": float(np.median(offsets)),
             "quantile_10": float(np.quantile(offsets, 0.1)),
             "quantile_90": float(np.quantile(offsets, 0.9)), "n_frames": int(use.sum())}
            if use.any() else None)
    return result


def expected_force_error(arrays: dict, calibration: dict | None) -> dict | None:
    """The committee deviation of every frame as an expected force RMSE (t): the
    calibration's scale (fitted on the training lattice's NEGF reference frames,
    ``holstein.ml.calibration``; recorded in the committee file) times the frame's trust
    statistic.  None without a
    committee or a calibration."""
    expected = expected_force_rmse(calibration, arrays)
    if expected is None:
        return None
    times = np.asarray(arrays["time"], dtype=float)
    return {"statistic": calibration["statistic"], "scale": calibration["scale"],
            "calibrated_within_factor_2": calibration["within_factor_2"],
            "median": float(np.median(expected)), "max": float(expected.max()),
            "time_of_max": float(times[int(np.argmax(expected))]),
            "per_frame": expected}


def _deviation_map(fig, ax, field, frame: int, time: float, wall: float, norm, what: str):
    image = ax.imshow(field[frame].T, origin="lower", aspect="auto", cmap="magma", norm=norm,
                      interpolation="nearest")
    if math.isfinite(wall):
        ax.axvline(wall, **pl.WALL_LINE, label=f"wall, x = {wall:.0f}")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel(pl.DISTANCE)
    ax.set_ylabel("y (sites, periodic)")
    ax.set_title(f"Deviation on every site at t = {time:.0f} ħ/t ({what})", fontsize=9)
    fig.colorbar(image, ax=ax, label=pl.FORCE_DEVIATION)


def plot_deviation(arrays: dict, series: pd.DataFrame, meta: dict, metrics: dict | None,
                   path, expected: dict | None = None) -> None:
    """The committee deviation of the large run (module docstring), with the expected
    force error of every frame where a calibration gives one (``expected_force_error``);
    for a run without a committee, a figure that says so."""
    plt = pl.pyplot()
    if metrics is None:
        pl.no_committee_figure(path)
        return
    lo, hi = metrics["trust_lo"], metrics["trust_hi"]
    times = np.asarray(arrays["time"], dtype=float)
    wall = series["wall_position"].to_numpy(dtype=float)
    field = arrays.get("force_deviation")
    fig, axes = plt.subplots(2 if field is not None else 1, 2, figsize=(13, 8.4 if field
                             is not None else 4.2), layout="constrained", squeeze=False)
    ax = axes[0][1]
    statistic = metrics["trust_statistic"]
    per_site = statistic == "max"  # a site's deviation against the trust levels
    for name, style in (("max", "-"), ("mean", "--")):
        trusted = " (the trust statistic)" if name == statistic else ""
        ax.semilogy(times, arrays[f"force_deviation_{name}"], "k" + style, lw=1,
                    label=f"{'maximum' if name == 'max' else 'mean'} over sites{trusted}")
    if expected is not None:
        ax.semilogy(times, expected["per_frame"], color="C1", lw=1,
                    label=f"expected force RMSE: {number(expected['scale'])} x "
                          f"{expected['statistic']}")
    pl.trust_lines(ax, lo, hi)
    ax.set_xlim(times[0], times[-1])
    ax.set_xlabel(pl.TIME)
    ax.set_ylabel(pl.FORCE_DEVIATION)
    ax.set_title("Committee deviation against time", fontsize=9)
    if field is not None and per_site:
        twin = ax.twinx()
        above = (field > lo).reshape(len(field), -1).mean(axis=1)
        twin.plot(times, 100 * above, color="C2", lw=0.8, alpha=0.7)
        twin.set_ylabel("sites above trust_lo (%)", color="C2")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[0][0]
    if field is None:
        ax.axis("off")
        ax.text(0.5, 0.5, "the per-site deviation was not recorded", ha="center")
    else:
        norm = pl.deviation_norm(field, lo, hi)
        columns = field.max(axis=2)
        image = ax.imshow(columns.T, origin="lower", aspect="auto", cmap="magma", norm=norm,
                          extent=[times[0], times[-1], -0.5, columns.shape[1] - 0.5],
                          interpolation="nearest")
        ax.plot(times, wall, **pl.WALL_LINE, label="domain wall")
        if per_site:
            ax.contour(times, np.arange(columns.shape[1]), columns.T, levels=[lo],
                       colors=[pl.TRUST_LINES["trust_lo"]["color"]], linewidths=0.8)
        ax.set_xlim(times[0], times[-1])
        ax.set_xlabel(pl.TIME)
        ax.set_ylabel(pl.DISTANCE)
        ax.set_title("Deviation kymograph: maximum over y per column"
                     + (" (green: trust_lo)" if per_site else ""), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(image, ax=ax, label=pl.FORCE_DEVIATION)
        finite = np.where(np.isfinite(wall), wall, -np.inf)
        mid = int(np.argmin(np.abs(finite - meta["Lx"] / 2)))
        worst = int(np.argmax(arrays["force_deviation_max"]))
        _deviation_map(fig, axes[1][0], field, mid, times[mid], wall[mid], norm,
                       "wall near mid-sample")
        _deviation_map(fig, axes[1][1], field, worst, times[worst], wall[worst], norm,
                       "largest deviation of the run")
    share_lo = 100 * metrics["fraction_of_frames_above_trust_lo"]
    share_hi = 100 * metrics["fraction_of_frames_above_trust_hi"]
    pl.suptitle(fig, f"Committee force deviation, ML run on {meta['Lx']} x {meta['Ly']}, "
                f"V = {meta['bias']:g} t/e: {share_lo:.0f} % of frames' {statistic} above "
                f"trust_lo = "
                f"{lo:g} t, {share_hi:.0f} % above trust_hi = {hi:g} t")
    pl.finish(fig, path, dpi=110)


def metrics_html(metrics: dict) -> str:
    """The numbers of ``metrics.json`` as an HTML table (units in the first column)."""
    small = metrics["small_lattice_wall_velocity"]
    rows = [
        ("lattice", f"{metrics['lattice']['Lx']} x {metrics['lattice']['Ly']}"),
        ("bias V (t/e), seed", f"{metrics['bias']:g}, {metrics['seed']}"),
        ("wall velocity (sites per ħ/t)", f"{number(metrics['wall_velocity'])} ± "
         f"{number(metrics['wall_velocity_stderr'])} (fit standard error)"),
        *((f"wall velocity on the small lattice, {pl.PROVIDERS[p].name} (sites per ħ/t)",
           f"{number(s['mean'])} ± {number(s['std'])} (mean ± std over {s['n']} seeds)")
          for p, s in small.items()),
        *((f"large / small lattice velocity, {pl.PROVIDERS[p].name}", number(r))
          for p, r in metrics["velocity_ratio_large_over_small"].items()),
        ("wall reached the far electrode", number(metrics["wall_reached_far_electrode"])),
        ("half-decay time (ħ/t)", number(metrics["half_decay_time"])),
        ("late current (e t/ħ; qualitative, see below)", number(metrics["late_current"])),
        ("switching time (ħ/t)", number(metrics["switching_time"])),
    ]
    expected = metrics.get("expected_force_error")
    if expected:
        rows.append((f"expected force RMSE (t): {number(expected['scale'])} x the "
                     f"{expected['statistic']} deviation; median, largest (at time ħ/t)",
                     f"{number(expected['median'])}, {number(expected['max'])} (at "
                     f"{number(expected['time_of_max'])}); the calibration put "
                     f"{100 * expected['calibrated_within_factor_2']:.0f} % of the training "
                     "lattice's held-out frames within a factor 2"))
    deviation = metrics.get("committee_deviation")
    if deviation:
        offset = deviation.get("offset_from_wall")
        sites = deviation.get("fraction_of_sites_above_trust_lo")
        rows += [
            (f"committee deviation, {deviation['trust_statistic']} over the sites: "
             "trust_lo, trust_hi (t)",
             f"{number(deviation['trust_lo'])}, {number(deviation['trust_hi'])}"),
            ("largest deviation (t), at time (ħ/t)",
             f"{number(deviation['max_deviation'])} at "
             f"{number(deviation['time_of_max_deviation'])}"),
            ("frames above trust_lo, above trust_hi",
             f"{100 * deviation['fraction_of_frames_above_trust_lo']:.1f} %, "
             f"{100 * deviation['fraction_of_frames_above_trust_hi']:.1f} %"),
            ("first time above trust_lo, trust_hi (ħ/t)",
             f"{number(deviation['first_time_above_trust_lo'])}, "
             f"{number(deviation['first_time_above_trust_hi'])}"),
        ]
        if sites:
            rows.append(("sites above trust_lo: mean over frames, largest (at time ħ/t)",
                         f"{100 * sites['mean_over_frames']:.2f} %, "
                         f"{100 * sites['max']:.2f} % ({number(sites['time_of_max'])})"))
        if offset:
            rows.append(("column of the largest deviation minus the wall (sites; > 0: "
                         "ahead in the CDW), median [10 %, 90 %]",
                         f"{number(offset['median'])} [{number(offset['quantile_10'])}, "
                         f"{number(offset['quantile_90'])}] over {offset['n_frames']} frames"))
    table = pd.DataFrame(rows, columns=["quantity", "value"])
    return html_page("Large-lattice ML run", f"{metrics['current_caveat']}. {pl.UNITS_NOTE}.",
                     {"The large run and the small-lattice runs at its bias": table})


def cost_html(cost: dict) -> str:
    """The large run's cost, and NEGF's estimated at its size, as a stand-alone page."""
    rows = [
        ("ML seconds per step (integration loop)", number(cost["ml_seconds_per_step"])),
        ("ML site-steps per second", number(cost["ml_site_steps_per_second"])),
        ("ML peak memory of the run (MB)", number(cost["peak_memory_mb"])),
        ("ML job wall time (s)", number(cost["job_seconds"])),
        ("ML job peak memory (MB)", number(cost["job_max_rss_mb"])),
    ]
    estimate = cost.get("negf_estimate")
    if estimate:
        rows += [
            ("NEGF seconds per step, estimated (" + estimate["scaling"] + ")",
             number(estimate["seconds_per_step"])),
            ("NEGF memory (GB), estimated", number(estimate["memory_gb"])),
            ("estimated speed-up ML over NEGF", number(cost["estimated_speedup_ml_over_negf"])),
        ]
    table = pd.DataFrame(rows, columns=["quantity", "value"])
    return html_page("Cost of the large-lattice ML run",
                     "Wall-clock seconds and memory on the machine that ran it.",
                     {"ML on the large lattice, NEGF extrapolated to it": table})


def large_lattice_report(trajectory_path, series_path, summary_path, cost_path,
                         benchmark_path, reference_summaries, reference_series,
                         reference_costs, committee_path, outputs,
                         trust_statistic: str, trust_lo: float, trust_hi: float) -> dict:
    """Figures and metrics.json of the large run against the validation runs at its bias.

    ``reference_summaries``/``reference_series``: the analyses (JSON, CSV) of the ML and
    NEGF validation runs at the large run's bias; ``reference_costs``: the NEGF ones' cost
    files, ``cost_path`` the large run's, ``benchmark_path`` its Snakemake benchmark.
    ``outputs``: ``figure``, ``deviation`` (figure), ``metrics``, ``tables`` (HTML), and
    the machine's measurements apart (a re-run does not reproduce them): ``cost_metrics``
    (JSON), ``cost_tables`` (HTML).  ``trust_statistic``, ``trust_lo``, ``trust_hi``: the
    trust statistic and levels of the committee deviation (``deviation_metrics``).
    ``committee_path``: the calibrated committee file (``holstein.ml.committee_file``) of
    the members that drove the run (checked against the run's metadata), whose calibration
    turns the deviation into an expected force error (``expected_force_error``: its
    summary in ``metrics``, every frame's in the deviation figure).
    """
    summary = json.loads(Path(summary_path).read_text())
    series = pd.read_csv(series_path)
    frames = {Path(p).with_suffix("").as_posix(): p for p in reference_series}
    references: dict[str, list] = {"negf": [], "ml": []}
    for path in sorted(map(str, reference_summaries)):
        ref = json.loads(Path(path).read_text())
        if not math.isclose(ref["bias"], summary["bias"]):
            raise ValueError(f"{path}: bias {ref['bias']} is not the large run's "
                             f"{summary['bias']}; pass the validation runs at that bias")
        references[ref["provider"]].append(
            (ref, pd.read_csv(frames[Path(path).with_suffix("").as_posix()])))
    lx, ly = summary["Lx"], summary["Ly"]
    small = {p: seed_statistics([s["wall_velocity"] for s, _ in runs])
             for p, runs in references.items()}
    velocity = summary["wall_velocity"]
    metrics = {
        "lattice": {"Lx": lx, "Ly": ly},
        "bias": summary["bias"],
        "seed": summary["seed"],
        "wall_velocity": velocity,
        "wall_velocity_stderr": summary["wall_velocity_stderr"],
        "wall_fit_window": summary["wall_fit_window"],
        "wall_reached_far_electrode": summary["wall_reached_far_electrode"],
        "half_decay_time": summary["half_decay_time"],
        "late_current": summary["late_current"],
        "switching_time": summary["switching_time"],
        "current_caveat": "learned bond currents are local: they do not carry over to "
                          "samples longer than the training lattice (at 40 x 14 a 16 x 14 "
                          "model's late current was 4.4 x NEGF's); read the current here "
                          "as qualitative",
        "small_lattice_wall_velocity": small,
        "velocity_ratio_large_over_small": {
            p: velocity / s["mean"] if s["n"] and s["mean"] else math.nan
            for p, s in small.items()},
    }
    run_cost = json.loads(Path(cost_path).read_text())
    ml_step = run_cost["seconds_per_step"]
    cost = {
        "ml_seconds_per_step": ml_step,
        "ml_site_steps_per_second": lx * ly / ml_step,
        "peak_memory_mb": run_cost["peak_memory_mb"],
        **_read_benchmark(benchmark_path),
    }
    negf_costs = [json.loads(Path(p).read_text()) for p in reference_costs]
    if negf_costs:
        small_sites = int(np.prod(negf_costs[0]["lattice"]))
        negf_step = float(np.median([c["seconds_per_step"] for c in negf_costs]))
        cost["negf_estimate"] = negf_estimate(negf_step, small_sites, lx * ly)
        cost["estimated_speedup_ml_over_negf"] = cost["negf_estimate"]["seconds_per_step"] / ml_step
    trajectory = read_trajectory(trajectory_path)
    metrics["committee_deviation"] = deviation_metrics(trajectory[0], series, trust_statistic,
                                                       trust_lo, trust_hi)
    committee = read_committee_file(committee_path)
    check_run_members(committee, trajectory[1], trajectory_path)
    expected = expected_force_error(trajectory[0], committee["calibration"])
    metrics["expected_force_error"] = (
        {k: v for k, v in expected.items() if k != "per_frame"} if expected else None)
    plot_large_lattice(trajectory, series, summary, references, outputs["figure"])
    plot_deviation(trajectory[0], series, trajectory[1], metrics["committee_deviation"],
                   outputs["deviation"], expected)
    write_text_atomic(outputs["tables"], metrics_html(metrics))
    write_text_atomic(outputs["metrics"], json.dumps(metrics, indent=2, default=float))
    write_text_atomic(outputs["cost_tables"], cost_html(cost))
    write_text_atomic(outputs["cost_metrics"], json.dumps(cost, indent=2, default=float))
    return metrics
