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

import yaml

from holstein.data.atomic import write_text_atomic
from holstein.physics.dynamics import run_brownian
from holstein.physics.forces import negf_provider
from holstein.physics.langevin import brownian_parameters
from holstein.physics.lattice import checkerboard
from holstein.report import plotting as pl
from holstein.stages.analyse import run_time_series, summarise

log = logging.getLogger(__name__)

REGIME_NAMES = ("CDW survives", "propagating domain wall", "abrupt collapse")


def simulate_regime(lattice, physics, dynamics, method, bias, n_steps, stride, seed):
    """One NEGF Brownian run from the checkerboard, analysed like a pipeline run.

    Returns the summary (holstein.stages.analyse.summarise) and the time series with the
    column profile phi(x)/phi_0 for the kymograph.
    """
    q0 = checkerboard(lattice["Lx"], lattice["Ly"], physics["g"], physics["K"], physics["kappa"])
    traj = run_brownian(q0, negf_provider(physics, method), bias,
                        brownian_parameters(physics, dynamics), n_steps, seed, stride=stride)
    meta = {**lattice, "physics": physics, "bias": bias, "seed": seed, "provider": "negf",
            "seconds_per_step": traj.seconds_per_step}
    series = run_time_series({"time": traj.times, "q": traj.q, "current": traj.current}, meta)
    return summarise(series, meta), series


def plot_kymographs(runs, path, title):
    plt = pl.pyplot()

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, (name, summary, series) in zip(axes[0], runs, strict=True):
        image = pl.run_kymograph(ax, series)
        v = summary["wall_velocity"]
        ax.set_title(f"{name}\nV = {summary['bias']:g} t/e, v_wall = {v:.3g} sites per ħ/t",
                     fontsize=10)
        ax.label_outer()
    pl.profile_colorbar(fig, image, axes)
    pl.suptitle(fig, title + "; dashed: domain wall", fontsize=10)
    pl.finish(fig, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", type=Path, default=Path("config/config.yaml"),
                    help="physics and dynamics come from this pipeline config")
    ap.add_argument("--Lx", type=int, default=24)
    ap.add_argument("--Ly", type=int, default=14)
    ap.add_argument("--gamma", type=float, help="lead coupling (default: the config's)")
    ap.add_argument("--temperature", type=float,
                    help="electron and bath kT (default: the config's)")
    ap.add_argument("--biases", default="1.5,2.1,3.0",
                    help="three biases: CDW survives, propagating wall, collapse")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("results/regimes"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if not args.configfile.is_file():
        ap.error(f"--configfile {args.configfile}: no such file; run from the repository "
                 "root or pass the pipeline's config/config.yaml")
    config = yaml.safe_load(args.configfile.read_text())
    physics = dict(config["physics"])
    for key in ("gamma", "temperature"):
        if getattr(args, key) is not None:
            physics[key] = getattr(args, key)
    dynamics = {k: v for k, v in config["dynamics"].items() if k != "checkpoint_every"}
    lattice = {"Lx": args.Lx, "Ly": args.Ly}
    biases = [float(b) for b in args.biases.split(",")]
    if len(biases) != len(REGIME_NAMES):
        ap.error(f"--biases needs {len(REGIME_NAMES)} values (survive, wall, collapse)")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for name, bias in zip(REGIME_NAMES, biases, strict=True):
        log.info("regime %r: bias %g", name, bias)
        summary, series = simulate_regime(lattice, physics, dynamics, config["negf"]["method"],
                                          bias, args.steps, args.stride, args.seed)
        log.info("  %s", summary)
        runs.append((name, summary, series))
    title = (
        f"NEGF Brownian dynamics, {args.Lx} x {args.Ly}, lead coupling {physics['gamma']:g}, "
        f"kT = {physics['temperature']:g}, {physics['bias_scheme']} bias"
    )
    plot_kymographs(runs, args.out / "kymographs.png", title)
    meta = {**lattice, **physics, **dynamics, "steps": args.steps, "seed": args.seed}
    result = {"parameters": meta, "regimes": {name: s for name, s, *_ in runs}}
    write_text_atomic(args.out / "regimes.json", json.dumps(result, indent=2))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
