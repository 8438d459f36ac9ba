"""Physics demonstration: the three regimes of the voltage-driven CDW melting, as kymographs.

NEGF Brownian dynamics from the perfect checkerboard at three biases: (a) below
threshold the CDW survives, (b) at intermediate bias a metallic layer nucleates
at the gated electrode and the metal/CDW interface sweeps through the sample,
(c) at large bias the CDW collapses abruptly.  For each run the script writes a
kymograph (x against time, colour phi(x)/phi_0), and a JSON summary with the
domain-wall velocity and the half-decay time of the order parameter.

Run: ``holstein-regimes --out results/regimes`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from .analysis import run_time_series, summarise
from .atomic import pyplot, save_figure, write_text_atomic
from .dynamics import INTEGRATORS, BrownianParameters, run_brownian
from .lattice import checkerboard
from .simulation import brownian_parameters, negf_provider

log = logging.getLogger(__name__)

REGIME_NAMES = ("CDW survives", "propagating domain wall", "abrupt collapse")


def simulate_regime(lattice, physics, dynamics, bias, n_steps, stride, seed):
    """One NEGF Brownian run from the checkerboard, analysed like a pipeline run.

    Returns the summary (holstein.analysis.summarise) and the time series with the
    column profile phi(x)/phi_0 for the kymograph.
    """
    q0 = checkerboard(lattice["Lx"], lattice["Ly"], physics["g"], physics["K"], physics["kappa"])
    traj = run_brownian(q0, negf_provider(physics), bias, brownian_parameters(physics, dynamics),
                        n_steps, seed, stride=stride)
    meta = {**lattice, "physics": physics, "bias": bias, "seed": seed, "provider": "negf",
            "seconds_per_step": traj.seconds_per_step}
    series = run_time_series({"time": traj.times, "q": traj.q, "current": traj.current}, meta)
    return summarise(series, meta), series


def plot_kymographs(runs, path, title):
    plt = pyplot()

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharey=True)
    for ax, (name, summary, series) in zip(np.atleast_1d(axes), runs, strict=True):
        times = series["time"].to_numpy()
        profile = series[[c for c in series.columns if c.startswith("phi_")]].to_numpy()
        positions = series["wall_position"].to_numpy()
        Lx = profile.shape[1]
        im = ax.imshow(
            profile.T,
            origin="lower",
            aspect="auto",
            extent=[times[0], times[-1], -0.5, Lx - 0.5],
            cmap="RdBu_r",
            vmin=-1,
            vmax=1,
        )
        ax.plot(times, positions, "k--", lw=1, label="domain wall")
        v = summary["wall_velocity"]
        ax.set_title(f"{name}\nV = {summary['bias']:g}, v_wall = {v:.3g}", fontsize=10)
        ax.set_xlabel("time")
    np.atleast_1d(axes)[0].set_ylabel("x (gated electrode at x = 0)")
    fig.colorbar(im, ax=axes, label=r"$\phi(x)/\phi_0$")
    fig.suptitle(title, fontsize=10, y=1.06)
    save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--Lx", type=int, default=24)
    ap.add_argument("--Ly", type=int, default=8)
    ap.add_argument("--gamma", type=float, default=1.0, help="lead coupling")
    ap.add_argument("--temperature", type=float, default=0.1, help="electron and bath kT")
    ap.add_argument("--biases", default="2,4,6", help="three biases: survive,wall,collapse")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--integrator", choices=INTEGRATORS, default=BrownianParameters.integrator)
    ap.add_argument("--out", type=Path, default=Path("results/regimes"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    physics = {"t": 1.0, "g": 1.5, "K": 1.0, "kappa": 0.18, "gamma": args.gamma,
               "temperature": args.temperature, "bias_scheme": "gated"}
    dynamics = {"damping": 0.2, "dt": 0.1, "integrator": args.integrator}
    lattice = {"Lx": args.Lx, "Ly": args.Ly}
    biases = [float(b) for b in args.biases.split(",")]
    if len(biases) != len(REGIME_NAMES):
        ap.error(f"--biases needs {len(REGIME_NAMES)} values (survive, wall, collapse)")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for name, bias in zip(REGIME_NAMES, biases, strict=True):
        log.info("regime %r: bias %g", name, bias)
        summary, series = simulate_regime(lattice, physics, dynamics, bias, args.steps,
                                          args.stride, args.seed)
        log.info("  %s", summary)
        runs.append((name, summary, series))
    title = (
        f"NEGF Brownian dynamics, {args.Lx} x {args.Ly}, lead coupling {args.gamma:g}, "
        f"kT = {args.temperature:g}, gated bias (mu_L = V, mu_R = 0)"
    )
    plot_kymographs(runs, args.out / "kymographs.png", title)
    meta = {**lattice, **physics, **dynamics, "steps": args.steps, "seed": args.seed}
    result = {"parameters": meta, "regimes": {name: s for name, s, *_ in runs}}
    write_text_atomic(args.out / "regimes.json", json.dumps(result, indent=2))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
