"""Benchmark: speed of the ML force field (holstein.ml) against the fast NEGF steady state.

What is measured (wall time, time.perf_counter, warm-up calls before timing, medians and
minima over --repeats; every ratio is formed from numbers measured in the same run):

* ML ``MLForceProvider.electronic_force(q, V)`` (float32, torch.inference_mode, the
  mirror-symmetrised network, i.e. two backbone passes batched) on a CDW configuration
  with noise, for each lattice size (default 40x30, 120x120, 256x256) and each backbone
  width in --channels (and per-site MLP width in --expansion), cutoff --cutoff (= number
  of 3x3 layers).  Random weights: the cost does not depend on their values.
* One full Brownian step with the ML provider between recorded frames (``BrownianIntegrator``:
  ``electronic_force`` on the provider's device, elastic force, noise and update; with
  ``--device cuda`` all of it on the GPU) and the throughput in site-steps per second.
* The fast NEGF ``steady_state`` at the sizes in --negf-sizes (default 40x30; 120x120 would
  need a dense 14400 x 14400 complex eigendecomposition, hours and ~10 GB: not feasible).

Targets: ML electronic_force at 40x30 at least 300x faster than the fast NEGF in
the same run; ML throughput at 256x256 >= 1e6 site-steps/s on 2 cores (<= 65 ms per step).

Run on a quiet machine (other processes on the same cores distort multi-threaded timings
badly: OpenMP threads wait for each other):

    python benchmarks/mlff_speed.py                       # default table, 2 threads
    python benchmarks/mlff_speed.py --channels 8,16,24,32 # choose the width
    python benchmarks/mlff_speed.py --threads 1 --quick   # smoke run
    python benchmarks/mlff_speed.py --bond-heads 0,1     # cost of the bond-current heads (default)

A report goes to stdout, all numbers plus machine information to --out (JSON, default
benchmarks/out/mlff_speed.json).

The transport-field model (``holstein.ml.transport``) is measured from a trained
checkpoint (``--transport CHECKPOINT``): its cost depends on the weights through the
Kirchhoff solve (the conjugate-gradient iterations grow with the conductance contrast),
so random weights would flatter it.  It runs on a configuration with a metal/CDW wall
half-way (metal, Q ~ 0, left of Lx / 2; CDW right), the hardest case for the solve; the
force is timed cold (no warm start) and warm, the step and the run as for the local
model (warm-started from the previous step), and the mean CG iterations are recorded.
The local model of the same width is timed on the same configuration in the same run:

    python benchmarks/mlff_speed.py --transport results/transport/mlff.pt --bond-heads 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import blas_threads  # noqa: E402, F401  (before numpy: BLAS threads from --threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from schema_defaults import DEFAULTS

from holstein.ml.model import Architecture, LocalForceField  # noqa: E402
from holstein.ml.provider import MLForceProvider  # noqa: E402
from holstein.physics.dynamics import BrownianIntegrator, run_brownian  # noqa: E402

PHYSICS = DEFAULTS.physics
BIAS, NOISE, SEED = 4.0, 0.05, 20260121
BIAS_TRANSPORT = 2.2  # a training bias in the wall regime: the potential drops at the wall
TARGET_SPEEDUP, TARGET_THROUGHPUT = 300.0, 1e6
# A short run_brownian recording every RUN_STRIDE-th frame, as the pipeline's runs do
# (stride 3): between recorded frames the provider computes the force only.
RUN_STEPS, RUN_STRIDE = 30, 3


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s]


def configuration(lx: int, ly: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return DEFAULTS.checkerboard(lx, ly) + NOISE * rng.standard_normal((lx, ly))


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync()  # a GPU runs asynchronously: time the work, not its launch
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


def bench_ml(channels: int, cutoff: int, sizes, repeats: int, expansion: int = 0,
             bond_heads: bool = False, device: str = "cpu") -> list[dict]:
    torch.manual_seed(0)
    model = LocalForceField(Architecture(
        cutoff=cutoff, channels=channels, head_channels=channels, expansion=expansion,
        bond_heads=bond_heads, bond_head_channels=channels))
    provider = MLForceProvider(model, PHYSICS, device=device)
    n_params = sum(p.numel() for p in model.parameters())
    rows = []
    for lx, ly in sizes:
        q = configuration(lx, ly)
        reps = repeats if lx * ly <= 20000 else max(5, repeats // 2)
        force = timed(lambda q=q: provider.electronic_force(q, BIAS), reps)
        integ = BrownianIntegrator(q, provider, BIAS, DEFAULTS.brownian(), seed=1)
        # A step between recorded frames: force, elastic force, noise and update, all on
        # the provider's device (no host round trip).
        step = timed(lambda integ=integ: integ.advance(integ.electronic_force()), reps)
        run = timed(lambda q=q: run_brownian(q, provider, BIAS, DEFAULTS.brownian(), RUN_STEPS,
                                             seed=1, stride=RUN_STRIDE), max(3, reps // 4), 1)
        rows.append({
            "Lx": lx, "Ly": ly, "channels": channels, "cutoff": cutoff, "expansion": expansion,
            "bond_heads": bond_heads, "parameters": n_params, "device": device,
            "force": force, "step": step,
            "run_step_s": run["median_s"] / (RUN_STEPS + 1),
            "site_steps_per_s": lx * ly / step["median_s"],
        })
        print(f"  ML  C={channels:2d} E={expansion:2d} B={int(bond_heads)} {lx:4d}x{ly:<4d} "
              f"force median "
              f"{force['median_s'] * 1e3:8.2f} ms (min {force['min_s'] * 1e3:7.2f})  "
              f"step {step['median_s'] * 1e3:8.2f} ms  "
              f"{rows[-1]['site_steps_per_s']:.3g} site-steps/s", flush=True)
    return rows


def wall_configuration(lx: int, ly: int) -> np.ndarray:
    """CDW on the right half, metal (small Q) on the left: a wall half-way."""
    q = configuration(lx, ly)
    q[: lx // 2] *= 0.1
    return q


def bench_transport(checkpoint: str, sizes, repeats: int) -> list[dict]:
    from holstein.ml.provider import load

    provider = load(checkpoint)
    model = provider.model
    rows = []
    for lx, ly in sizes:
        q = wall_configuration(lx, ly)
        reps = repeats if lx * ly <= 20000 else max(5, repeats // 2)

        def cold(q=q):
            model._warm.clear()
            return provider.electronic_force(q, BIAS_TRANSPORT)

        force_cold = timed(cold, reps)
        cold_iterations = model.last_solve.iterations
        force_warm = timed(lambda q=q: provider.electronic_force(q, BIAS_TRANSPORT), reps)
        integ = BrownianIntegrator(q, provider, BIAS_TRANSPORT, DEFAULTS.brownian(), seed=1)
        iterations = []

        def step(integ=integ, iterations=iterations):
            integ.advance(integ.electronic())
            iterations.append(model.last_solve.iterations)

        step_t = timed(step, reps)
        run = timed(lambda q=q: run_brownian(q, provider, BIAS_TRANSPORT, DEFAULTS.brownian(),
                                             RUN_STEPS, seed=1, stride=RUN_STRIDE),
                    max(3, reps // 4), 1)
        rows.append({
            "Lx": lx, "Ly": ly, "model": "transport", "checkpoint": checkpoint,
            "architecture": model.architecture.as_dict(), "solver": model.solver_for(lx, ly),
            "rtol": model.rtol, "bias": BIAS_TRANSPORT,
            "force_cold": force_cold, "cold_iterations": cold_iterations,
            "force": force_warm, "step": step_t,
            "step_iterations_mean": float(np.mean(iterations)) if iterations else None,
            "run_step_s": run["median_s"] / (RUN_STEPS + 1),
            "site_steps_per_s": lx * ly / step_t["median_s"],
        })
        print(f"  transport {lx:4d}x{ly:<4d} force cold {force_cold['median_s'] * 1e3:8.2f} ms "
              f"({cold_iterations} CG iterations), warm {force_warm['median_s'] * 1e3:8.2f} ms;"
              f" step {step_t['median_s'] * 1e3:8.2f} ms ({rows[-1]['step_iterations_mean']} "
              f"iterations per step), {rows[-1]['site_steps_per_s']:.3g} site-steps/s",
              flush=True)
    return rows


def bench_negf(sizes, repeats: int) -> list[dict]:
    rows = []
    for lx, ly in sizes:
        q = configuration(lx, ly)
        r = timed(lambda q=q: DEFAULTS.steady_state(q, BIAS, method="fast"), repeats, 1)
        rows.append({"Lx": lx, "Ly": ly, "negf_fast": r})
        print(f"  NEGF fast {lx:4d}x{ly:<4d} median {r['median_s']:.3f} s "
              f"(min {r['min_s']:.3f})", flush=True)
    return rows


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "torch_threads": torch.get_num_threads(),
        "blas_threads_env": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS",
                                                            "OMP_NUM_THREADS")},
        "mkldnn": torch.backends.mkldnn.is_available(),
        "load_average": list(os.getloadavg()),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="40x30,120x120,256x256")
    ap.add_argument("--negf-sizes", default="40x30")
    ap.add_argument("--channels", default=str(DEFAULTS.config["model"]["channels"]),
                    help="comma-separated backbone widths")
    ap.add_argument("--expansion", default="0",
                    help="comma-separated widths of the per-site MLP in each block (0: none)")
    ap.add_argument("--cutoff", type=int, default=DEFAULTS.config["model"]["cutoff"])
    ap.add_argument("--bond-heads", default="0,1",
                    help="0: force head only, 1: with the bond-current heads (they "
                    "may cost at most 20 %% of the step); both: the ratio in the same run")
    ap.add_argument("--transport", default=None, metavar="CHECKPOINT",
                    help="also time this trained transport-field model (wall configuration)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the ML runs only)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--negf-repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--out", default="benchmarks/out/mlff_speed.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.negf_sizes, args.repeats, args.negf_repeats = "40x30,64x64", "20x15", 5, 1
    torch.set_num_threads(args.threads)
    info = machine()
    print(f"torch {info['torch']}, {args.threads} thread(s), load average "
          f"{info['load_average']}", flush=True)
    # NEGF first: torch's OpenMP workers spin after each parallel region and can steal
    # the cores from OpenBLAS threads started later in the same process.
    negf = bench_negf(parse_sizes(args.negf_sizes), args.negf_repeats)
    sizes = parse_sizes(args.sizes)
    ml = []
    # Size outermost: the variants compared at one size are timed back to back, so that
    # drifts of the machine (clock, other load) hit them alike.
    transport = []
    for size in sizes:
        for c in (int(v) for v in args.channels.split(",")):
            for e in (int(v) for v in args.expansion.split(",")):
                for b in (bool(int(v)) for v in args.bond_heads.split(",")):
                    ml += bench_ml(c, args.cutoff, [size], args.repeats, e, b, args.device)
        if args.transport:
            transport += bench_transport(args.transport, [size], args.repeats)

    summary = []
    for row in ml:
        ref = next((n for n in negf if (n["Lx"], n["Ly"]) == (row["Lx"], row["Ly"])), None)
        if ref is not None:
            row["speedup_vs_negf_fast"] = ref["negf_fast"]["median_s"] / row["force"]["median_s"]
    print("\nsummary (medians)")
    for row in ml:
        line = (f"  C={row['channels']:2d} E={row['expansion']:2d} B={int(row['bond_heads'])} "
                f"{row['Lx']}x{row['Ly']}: force "
                f"{row['force']['median_s'] * 1e3:.2f} ms, step {row['step']['median_s'] * 1e3:.2f}"
                f" ms, {row['site_steps_per_s']:.3g} site-steps/s")
        if "speedup_vs_negf_fast" in row:
            ok = row["speedup_vs_negf_fast"] >= TARGET_SPEEDUP
            line += (f", {row['speedup_vs_negf_fast']:.0f}x faster than NEGF "
                     f"({'meets' if ok else 'MISSES'} >= {TARGET_SPEEDUP:.0f}x)")
        if (row["Lx"], row["Ly"]) == (256, 256):
            ok = row["site_steps_per_s"] >= TARGET_THROUGHPUT
            line += f" ({'meets' if ok else 'MISSES'} >= 1e6 site-steps/s)"
        base = next((r for r in ml if not r["bond_heads"] and all(
            r[k] == row[k] for k in ("Lx", "Ly", "channels", "expansion", "cutoff"))), None)
        if row["bond_heads"] and base is not None:
            row["bond_head_step_overhead"] = row["step"]["median_s"] / base["step"]["median_s"] - 1
            row["bond_head_run_overhead"] = row["run_step_s"] / base["run_step_s"] - 1
            ok = row["bond_head_run_overhead"] <= 0.20
            line += (f"; bond heads add {100 * row['bond_head_step_overhead']:.1f} % to a step "
                     f"that evaluates them, {100 * row['bond_head_run_overhead']:.1f} % per step "
                     f"of a run recording every {RUN_STRIDE}rd ({'meets' if ok else 'MISSES'} "
                     "<= 20 %)")
        print(line)
        summary.append(line.strip())
    for row in transport:
        line = (f"  transport {row['Lx']}x{row['Ly']}: force {row['force']['median_s'] * 1e3:.2f} "
                f"ms warm, {row['force_cold']['median_s'] * 1e3:.2f} ms cold, step "
                f"{row['step']['median_s'] * 1e3:.2f} ms, {row['site_steps_per_s']:.3g} "
                "site-steps/s")
        if (row["Lx"], row["Ly"]) == (256, 256):
            ok = row["site_steps_per_s"] >= TARGET_THROUGHPUT
            line += f" ({'meets' if ok else 'MISSES'} >= 1e6 site-steps/s)"
        print(line)
        summary.append(line.strip())
    info["load_average_end"] = list(os.getloadavg())
    out = {"args": vars(args), "machine": info, "ml": ml, "transport": transport, "negf": negf,
           "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
