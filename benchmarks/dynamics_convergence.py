"""Measurement: how the integrator, its time step and the start change the observables.

Every run is an NEGF Brownian run on the pipeline's default lattice and physics (16 x 14,
config.yaml), analysed like a pipeline run (holstein.stages.analyse: domain-wall velocity and
half-decay time of the order parameter), over the same physical time (default 90 = the
pipeline's 900 steps at dt = 0.1) with frames every 0.3 time units at every dt.

Two studies:

* ``integrator``: Euler-Maruyama and Leimkuhler-Matthews at dt = 0.1 against a converged
  small-dt run (dt = 0.025, both schemes) at the same biases and seeds, with dt = 0.05 in
  between to show how each scheme converges.  "Same seed" means
  the same Brownian path: a run at dt = m * dt_fine draws the fine run's normals and uses
  the normalised sum of each group of m (the Brownian increment over its longer step), so
  the coarse and the fine run feel the same noise and their difference is the integrator's
  error, not a different noise realisation.
* ``initial``: the checkerboard start against the relaxed V = 0 equilibrium
  (holstein.physics.initial.relaxed_state) with the configured integrator at dt = 0.1, the same
  noise.

Each run's summary is cached in the JSON (--out), so an interrupted measurement resumes
where it stopped.  One process, one BLAS thread (OPENBLAS_NUM_THREADS=1 is set below).

    python benchmarks/dynamics_convergence.py --study integrator   # ~2 h on one core
    python benchmarks/dynamics_convergence.py --study initial      # ~10 min

A table goes to stdout and into the JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from schema_defaults import DEFAULTS  # noqa: E402

from holstein.data.atomic import write_text_atomic  # noqa: E402
from holstein.physics.dynamics import BrownianIntegrator  # noqa: E402
from holstein.physics.forces import negf_provider  # noqa: E402
from holstein.physics.langevin import INTEGRATORS, brownian_parameters  # noqa: E402
from holstein.physics.lattice import checkerboard  # noqa: E402
from holstein.physics.observables import half_decay_time  # noqa: E402
from holstein.stages.analyse import run_time_series, summarise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRAME_INTERVAL = 0.3  # time between recorded frames, as the pipeline's stride 3 at dt 0.1
# Compared per study.  The pipeline's order parameter is normalised by the checkerboard
# amplitude whatever the start (one absolute scale for every run); a relaxed start begins
# at about 0.87, so "own_start" also gives the half-decay time relative to the start.
METRICS = {
    "integrator": ("wall_velocity", "half_decay_time"),
    "initial": ("wall_velocity", "half_decay_time", "half_decay_time_own_start"),
}
log = logging.getLogger("dynamics_convergence")


class CoarseGrainedNormals:
    """Standard normals for a step m times the finest one: each is the normalised sum of m
    consecutive draws of the fine stream, i.e. the same Brownian increment."""

    def __init__(self, seed: int, m: int):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.m = m

    def standard_normal(self, shape):
        fine = self.rng.standard_normal((self.m, *shape))
        return fine.sum(axis=0) / np.sqrt(self.m)


def run_one(config, bias, seed, integrator, dt, dt_fine, duration, q0, initial):
    physics, lattice = config["physics"], config["lattice"]
    dynamics = {**config["dynamics"], "integrator": integrator, "dt": dt}
    params = brownian_parameters(physics, dynamics)
    m = round(dt / dt_fine)
    if abs(m * dt_fine - dt) > 1e-12 * dt:
        raise ValueError(f"dt={dt} is not a multiple of the finest dt={dt_fine}")
    n_steps = round(duration / dt)
    stride = round(FRAME_INTERVAL / dt)
    integ = BrownianIntegrator(q0, negf_provider(physics, config["negf"]["method"]), bias,
                               params, seed)
    integ.rng = CoarseGrainedNormals(seed, m)
    if integ.pending is not None:  # drawn from the plain stream in the constructor
        integ.pending = integ.rng.standard_normal(integ.q.shape)
    times, qs, currents = [], [], []
    t0 = time.perf_counter()
    for k in range(n_steps + 1):
        response = integ.electronic()
        if k % stride == 0:
            times.append(integ.time)
            qs.append(integ.q.copy())
            currents.append(response.current)
        if k < n_steps:
            integ.advance(response)
    seconds = time.perf_counter() - t0
    meta = {**lattice, "physics": physics, "bias": bias, "seed": seed, "provider": "negf",
            "seconds_per_step": seconds / (n_steps + 1)}
    series = run_time_series({"time": np.array(times), "q": np.stack(qs),
                              "current": np.array(currents)}, meta)
    summary = summarise(series, meta)
    order = series["order_parameter"].to_numpy()
    return {
        "integrator": integrator, "dt": dt, "initial": initial, "bias": bias, "seed": seed,
        "n_steps": n_steps, "seconds": seconds,
        **{k: summary[k] for k in ("wall_velocity", "half_decay_time", "wall_velocity_stderr",
                                   "final_order_parameter", "switching_time")},
        "half_decay_time_own_start": half_decay_time(series["time"].to_numpy(),
                                                     order / order[0]),
        "initial_order_parameter": float(order[0]),
        "wall_position": series["wall_position"].round(4).tolist(),
        "order_parameter": series["order_parameter"].round(6).tolist(),
    }


def key(run):
    return f"{run['integrator']}|{run['dt']:g}|{run['initial']}|{run['bias']:g}|{run['seed']}"


def start_state(config, initial):
    lat, phys = config["lattice"], config["physics"]
    if initial == "checkerboard":
        return checkerboard(lat["Lx"], lat["Ly"], phys["g"], phys["K"], phys["kappa"])
    from holstein.physics.initial import relaxed_state

    return relaxed_state(lat["Lx"], lat["Ly"], phys,
                         negf_provider(phys, config["negf"]["method"])).q


def variants(args, config):
    """(integrator, dt, initial) of every run of the study; the first is the reference."""
    if args.study == "integrator":
        fine = [(s, args.dt_fine, "checkerboard") for s in reversed(INTEGRATORS)]
        return fine + [(s, dt, "checkerboard") for dt in (args.dt, *args.dt_between)
                       for s in INTEGRATORS]
    scheme = args.integrator or config["dynamics"]["integrator"]
    return [(scheme, args.dt, "checkerboard"), (scheme, args.dt, "relaxed")]


def compare(runs, args, config):
    """Per variant: the seed mean of each metric and its mean difference from the reference(s)."""
    table = []
    combos = variants(args, config)
    refs = combos[:2] if args.study == "integrator" else combos[:1]
    for integrator, dt, initial in combos:
        row = {"integrator": integrator, "dt": dt, "initial": initial}
        for metric in METRICS[args.study]:
            for bias in args.biases:
                values, diffs = [], {r: [] for r in refs}
                for seed in args.seeds:
                    run = runs.get(key({"integrator": integrator, "dt": dt, "initial": initial,
                                        "bias": bias, "seed": seed}))
                    if run is None:
                        continue
                    if metric not in run:  # a run cached before the metric existed
                        continue
                    values.append(run[metric])
                    for r in refs:
                        ref = runs.get(key({"integrator": r[0], "dt": r[1], "initial": r[2],
                                            "bias": bias, "seed": seed}))
                        if ref is not None and metric in ref:
                            diffs[r].append(run[metric] - ref[metric])
                label = f"{metric}@V{bias:g}"
                row[label] = float(np.mean(values)) if values else None
                for r, d in diffs.items():
                    if d and r != (integrator, dt, initial):
                        row[f"{label} - {r[0]}/{r[1]:g}"] = {
                            "mean": float(np.mean(d)), "mean_abs": float(np.mean(np.abs(d))),
                            "n": len(d)}
        table.append(row)
    return table


def markdown(runs, args, config):
    """Seed mean +- standard error of every metric per variant and bias, and the per-seed
    difference of each variant from each reference (same noise), as Markdown tables."""
    combos = variants(args, config)
    refs = combos[:2] if args.study == "integrator" else combos[:1]
    metrics = METRICS[args.study]

    def run_of(combo, bias, seed):
        return runs.get(key({"integrator": combo[0], "dt": combo[1], "initial": combo[2],
                             "bias": bias, "seed": seed}))

    def stat(values):
        values = np.asarray([v for v in values if np.isfinite(v)])
        if len(values) == 0:
            return "-"
        sem = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        return f"{values.mean():.4g} +- {sem:.2g} ({len(values)})"

    columns = [(m, b) for b in args.biases for m in metrics]
    header = "| scheme | dt | start | " + " | ".join(f"{m} V={b:g}" for m, b in columns) + " |"
    lines = ["Seed means +- standard error (number of seeds):", "", header,
             "|" + " --- |" * (3 + len(columns))]
    for combo in combos:
        cells = [stat([run_of(combo, b, s)[m] for s in args.seeds if run_of(combo, b, s)])
                 for m, b in columns]
        lines.append(f"| {combo[0]} | {combo[1]:g} | {combo[2]} | " + " | ".join(cells) + " |")
    for ref in refs:
        lines += ["", f"Per-seed difference from {ref[0]} dt={ref[1]:g} ({ref[2]} start), "
                  "mean +- standard error:", "", header, "|" + " --- |" * (3 + len(columns))]
        for combo in combos:
            if combo == ref:
                continue
            cells = []
            for m, b in columns:
                pairs = [(run_of(combo, b, s), run_of(ref, b, s)) for s in args.seeds]
                cells.append(stat([a[m] - r[m] for a, r in pairs if a and r]))
            lines.append(f"| {combo[0]} | {combo[1]:g} | {combo[2]} | " + " | ".join(cells)
                         + " |")
    return "\n".join(lines)


def print_table(table, args):
    print(f"\n{args.study} study; values are seed means over seeds {args.seeds}; "
          "differences are per-seed (same noise) differences from the reference, "
          "mean (mean |.|)")
    for row in table:
        print(f"\n{row['integrator']:>20s} dt={row['dt']:<6g} start={row['initial']}")
        for k, v in row.items():
            if k in ("integrator", "dt", "initial"):
                continue
            if isinstance(v, dict):
                print(f"    {k:60s} {v['mean']:+.4f} ({v['mean_abs']:.4f}), n={v['n']}")
            elif v is not None:
                print(f"    {k:60s} {v:.4f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", choices=("integrator", "initial"), required=True)
    ap.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    ap.add_argument("--biases", type=float, nargs="+", default=[2.0, 2.2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--dt", type=float, default=DEFAULTS.dynamics["dt"])
    ap.add_argument("--dt-fine", type=float, default=0.025)
    ap.add_argument("--dt-between", type=float, nargs="*", default=[0.05],
                    help="integrator study: further time steps between --dt and --dt-fine, "
                         "to see each scheme's convergence")
    ap.add_argument("--duration", type=float, default=90.0)
    ap.add_argument("--integrator", choices=INTEGRATORS, default=None,
                    help="initial study: the scheme (default: the config's)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON (default benchmarks/out/dynamics_<study>.json)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = args.out or ROOT / "benchmarks" / "out" / f"dynamics_{args.study}.json"

    config = yaml.safe_load(args.config.read_text())
    from snakemake.utils import validate

    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"),
             set_default=True)
    result = json.loads(out.read_text()) if out.exists() else {}
    runs = result.get("runs", {})
    starts = {}
    # Seeds outermost: an interrupted measurement has every bias for its first seeds.
    for seed in args.seeds:
        for bias in args.biases:
            for integrator, dt, initial in variants(args, config):
                run_key = key({"integrator": integrator, "dt": dt, "initial": initial,
                               "bias": bias, "seed": seed})
                if run_key in runs:
                    continue
                if initial not in starts:
                    starts[initial] = start_state(config, initial)
                log.info("run %s", run_key)
                runs[run_key] = run_one(config, bias, seed, integrator, dt, args.dt_fine,
                                        args.duration, starts[initial], initial)
                log.info("  v_wall %.4f, t_half %.3f, %.0f s", runs[run_key]["wall_velocity"],
                         runs[run_key]["half_decay_time"], runs[run_key]["seconds"])
                result = {
                    "study": args.study,
                    "command": "python " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "machine": f"{platform.node()}, {os.cpu_count()} cores, "
                               f"{platform.processor() or platform.machine()}",
                    "lattice": config["lattice"], "physics": config["physics"],
                    "dynamics": config["dynamics"], "duration": args.duration,
                    "runs": runs,
                }
                out.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(out, json.dumps(result, indent=1))
    table = compare(runs, args, config)
    result["table"] = table
    result["markdown"] = markdown(runs, args, config)
    write_text_atomic(out, json.dumps(result, indent=1))
    print_table(table, args)
    print("\n" + result["markdown"])


if __name__ == "__main__":
    main()
