"""Benchmark: cost of the steady-state NEGF (holstein.physics.negf.steady_state) against
dense baselines.

What is measured (wall time, time.perf_counter, one warm-up call before timing each function,
medians over --repeats; all ratios are formed from numbers measured in the same run):

* Configuration: an Lx x Ly CDW (holstein.physics.lattice.checkerboard, g=1.5, K=1,
  kappa=0.18) whose first ~15% of columns at the gated (left, x = 0) electrode are partly
  molten (amplitude ramped linearly from 0 to 1; 6 columns at 40 x 30), plus seeded
  Gaussian noise (sigma 0.05) so the spectrum is generic; bias 4.0, gated scheme
  (mu_L = 4, mu_R = 0), gamma = 1, kT = 0.1.
* At the main size (40 x 30, 1200 sites): DEFAULTS.steady_state(method="fast") and (method="exact"),
  one dense 1200 x 1200 complex inverse (numpy.linalg.inv of e*I - H_eff), and a "naive dense
  energy-grid method": n_i = sum_a sum_e de/2pi f_a(e) [G^r Gamma_a G^a]_ii on a uniform
  midpoint grid over the spectrum with one dense inverse per energy.  The naive method cannot
  reach the closed form's accuracy at any affordable number of energies (narrow resonances), so
  its error against method="exact" is measured on a smaller lattice (20 x 15) for increasing
  numbers of energies; its cost at the main size is quoted as (time per energy, measured from a
  few inverses) x (the smallest count that reached 1e-7 there, or the largest count tried,
  flagged as a lower bound).
* Resonance statistics explaining why quadrature fails: eigenvalues of H_eff with real part in
  the bias window [mu_R - 10 kT, mu_L + 10 kT]: count, minimum width (-2 Im lambda), and how
  many are narrower than 1e-3 and 1e-5.
* A table over lattice sizes (default 20x15, 40x30, 80x60): fast and exact steady_state and the
  dense-inverse time at that size.  Sizes above 2000 sites are timed once without warm-up (one
  call takes minutes; the smaller sizes have already warmed up the same code paths).  80 x 60
  exact needs ~2.5 GB of memory and a few minutes; skip it with --max-sites.

Target: fast steady_state at 40 x 30 costs no more than 1.5 dense 1200 x 1200
inverses measured in the same run (printed as "fast/inverse <= 1.5").

Run (on a quiet machine; the full run takes several minutes, 80 x 60 dominates):

    python benchmarks/negf_speed.py                      # full benchmark
    python benchmarks/negf_speed.py --max-sites 2000     # without 80 x 60
    python benchmarks/negf_speed.py --quick              # smoke run, small sizes only (< 1 min)

A human-readable report goes to stdout, all numbers plus machine information to a JSON file
(--out, default benchmarks/out/negf_speed.json).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
from schema_defaults import DEFAULTS
from scipy.special import expit

from holstein.physics.lattice import Lattice, checkerboard, chemical_potentials
from holstein.physics.negf import effective_hamiltonian, steady_state

# Physical parameters of the benchmark configuration: the default physics at a bias in
# the collapse regime.
PHYSICS = DEFAULTS.physics
T_HOP, G, K, KAPPA = PHYSICS["t"], PHYSICS["g"], PHYSICS["K"], PHYSICS["kappa"]
BIAS = 4.0
GAMMA, KT, SCHEME = PHYSICS["gamma"], PHYSICS["temperature"], PHYSICS["bias_scheme"]
MOLTEN_FRACTION, NOISE_SIGMA, SEED = 0.15, 0.05, 20260121

TARGET_RATIO = 1.5  # fast steady_state <= 1.5 dense inverses at the main size
NAIVE_TOL = 1e-7  # density accuracy the naive grid has to reach
NAIVE_TAIL_POINTS = 64  # mapped Gauss-Legendre points for the tail below the grid
BIG_SITES = 2000  # above this: repeats = 1, no warm-up
STEADY_KW = dict(bias=BIAS, t=T_HOP, g=G, gamma=GAMMA, temperature=KT, bias_scheme=SCHEME)


# --------------------------------------------------------------------------- configuration


def parse_size(text: str) -> tuple[int, int]:
    lx, ly = text.lower().split("x")
    return int(lx), int(ly)


def size_name(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def molten_layer_config(lx: int, ly: int) -> tuple[np.ndarray, int]:
    """CDW with a linearly molten layer at the gated electrode plus seeded noise; (q, columns)."""
    q = checkerboard(lx, ly, g=G, K=K, kappa=KAPPA)
    m = max(1, round(MOLTEN_FRACTION * lx))
    ramp = np.minimum(np.arange(lx) / m, 1.0)  # columns 0..m-1: 0, 1/m, ..., (m-1)/m
    rng = np.random.default_rng(SEED)
    return q * ramp[:, None] + NOISE_SIGMA * rng.standard_normal((lx, ly)), m


def mus() -> dict[str, float]:
    return dict(zip("LR", chemical_potentials(BIAS, SCHEME), strict=True))


# --------------------------------------------------------------------------- timing


def timed(fn, repeats: int, warmup: bool = True):
    """(wall times of `repeats` calls, result of the last call); one untimed call first."""
    if warmup:
        fn()
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def progress(msg: str) -> None:
    print(f"  ... {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- naive grid method


def fermi(e: float, mu: float) -> float:
    if KT > 0:
        return float(expit(-(e - mu) / KT))
    return float(e < mu) + 0.5 * float(e == mu)


def naive_window(q: np.ndarray) -> tuple[float, float]:
    """Real-axis window of the naive grid.

    Lower end: the Gershgorin bound of h (no eigenvalue of h lies below it) or min(mu) - 12 kT,
    whichever is lower.  Upper end: max(mu) + 40 kT (f_a < 5e-18 above it).
    """
    mu = mus().values()
    degree = 4.0 if q.shape[1] > 1 else 2.0
    lo = min(float(np.min(G * q)) - degree * abs(T_HOP), min(mu) - 12 * KT)
    return lo, max(mu) + 40 * KT


def naive_density(heff: np.ndarray, lat: Lattice, energies, weights) -> np.ndarray:
    """sum_a sum_e w_e/2pi f_a(e) [G^r Gamma_a G^a]_ii, one dense inverse per energy."""
    n = heff.shape[0]
    ident = np.eye(n)
    lead = {a: lat.lead_sites(a) for a in "LR"}
    dens = np.zeros(n)
    for e, w in zip(energies, weights, strict=True):
        gr = np.linalg.inv(e * ident - heff)
        for a, mu in mus().items():
            # Gamma_a = gamma on the lead column: [G Gamma_a G^+]_ii = gamma sum_j |G_ij|^2
            col = gr[:, lead[a]]
            dens += (w * fermi(e, mu) * GAMMA) * np.einsum("ij,ij->i", col, col.conj()).real
    return dens / (2.0 * np.pi)


def midpoint_grid(lo: float, hi: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    h = (hi - lo) / count
    return lo + h * (np.arange(count) + 0.5), np.full(count, h)


def tail_rule(lo: float, points: int, scale: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre on (-inf, lo]: e = lo - scale u / (1 - u), u in (0, 1).

    Below the spectrum the integrand is smooth and decays like the Lorentzian tails
    (~1/e^2) of the lead-broadened states; a finite grid that ignores it is off by ~1e-2.
    """
    x, w = np.polynomial.legendre.leggauss(points)
    u = 0.5 * (x + 1.0)
    return lo - scale * u / (1.0 - u), 0.5 * w * scale / (1.0 - u) ** 2


def naive_study(size, counts) -> dict:
    """Max density error of the naive grid vs method='exact' for increasing energy counts."""
    q, _ = molten_layer_config(*size)
    lat = Lattice.of(q)
    heff = effective_hamiltonian(q, T_HOP, G, GAMMA)
    exact = DEFAULTS.steady_state(q, method="exact", **STEADY_KW).density.ravel()
    lo, hi = naive_window(q)

    t0 = time.perf_counter()
    tail = naive_density(heff, lat, *tail_rule(lo, NAIVE_TAIL_POINTS))
    tail_time = time.perf_counter() - t0
    tail_check = naive_density(heff, lat, *tail_rule(lo, 2 * NAIVE_TAIL_POINTS))
    rows = []
    for count in counts:
        progress(f"naive grid, {size_name(size)}, {count} energies")
        t0 = time.perf_counter()
        grid = naive_density(heff, lat, *midpoint_grid(lo, hi, count))
        elapsed = time.perf_counter() - t0
        rows.append(
            dict(
                energies=count,
                max_error=float(np.max(np.abs(grid + tail - exact))),
                max_error_grid_only=float(np.max(np.abs(grid - exact))),
                seconds=elapsed,
                seconds_per_energy=elapsed / count,
            )
        )
    reached = [r["energies"] for r in rows if r["max_error"] <= NAIVE_TOL]
    return dict(
        size=size_name(size),
        window=[lo, hi],
        tail_points=NAIVE_TAIL_POINTS,
        tail_seconds=tail_time,
        tail_rule_change_when_doubled=float(np.max(np.abs(tail_check - tail))),
        tolerance=NAIVE_TOL,
        rows=rows,
        smallest_count_reaching_tol=min(reached) if reached else None,
    )


# --------------------------------------------------------------------------- resonances


def resonance_stats(size) -> dict:
    q, _ = molten_layer_config(*size)
    lam = scipy.linalg.eigvals(effective_hamiltonian(q, T_HOP, G, GAMMA), check_finite=False)
    mu = mus().values()
    lo, hi = min(mu) - 10 * KT, max(mu) + 10 * KT
    inside = lam[(lam.real >= lo) & (lam.real <= hi)]
    widths = -2.0 * inside.imag
    order = np.argsort(widths)
    return dict(
        size=size_name(size),
        window=[lo, hi],
        n_eigenvalues=int(lam.size),
        count_in_window=int(inside.size),
        min_width=float(widths.min()) if widths.size else None,
        narrower_than_1e_3=int(np.sum(widths < 1e-3)),
        narrower_than_1e_5=int(np.sum(widths < 1e-5)),
        min_width_all=float(np.min(-2.0 * lam.imag)),
        narrowest=[[float(inside[k].real), float(widths[k])] for k in order[:8]],
    )


# --------------------------------------------------------------------------- per-size timings


def time_size(size, repeats: int) -> dict:
    big = size[0] * size[1] > BIG_SITES
    reps, warm = (1, False) if big else (repeats, True)
    q, molten = molten_layer_config(*size)
    heff = effective_hamiltonian(q, T_HOP, G, GAMMA)
    e0 = 0.5 * sum(mus().values())  # mid bias window
    a = e0 * np.eye(heff.shape[0]) - heff

    progress(f"{size_name(size)}: dense inverse")
    t_inv, _ = timed(functools.partial(np.linalg.inv, a), reps, warm)
    times, states = {}, {}
    for method in ("fast", "exact"):
        progress(f"{size_name(size)}: DEFAULTS.steady_state(method={method!r})")
        fn = functools.partial(steady_state, q, method=method, **STEADY_KW)
        times[method], states[method] = timed(fn, reps, warm)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_inv = statistics.median(t_inv)
    return dict(
        size=size_name(size),
        sites=size[0] * size[1],
        molten_columns=molten,
        repeats=reps,
        warmup=warm,
        fast_seconds=times["fast"],
        exact_seconds=times["exact"],
        inverse_seconds=t_inv,
        fast_median=med["fast"],
        exact_median=med["exact"],
        inverse_median=med_inv,
        fast_over_inverse=med["fast"] / med_inv,
        exact_over_inverse=med["exact"] / med_inv,
        fast_vs_exact_max_density_diff=float(
            np.max(np.abs(states["fast"].density - states["exact"].density))
        ),
        fast_vs_exact_current_diff=abs(states["fast"].current - states["exact"].current),
        current=states["exact"].current,
    )


def naive_time_per_energy(size, repeats: int, energies: int = 3) -> list[float]:
    """Seconds per energy of the naive method (inverse + accumulation), from a few energies."""
    q, _ = molten_layer_config(*size)
    heff = effective_hamiltonian(q, T_HOP, G, GAMMA)
    grid = midpoint_grid(*naive_window(q), energies)
    fn = functools.partial(naive_density, heff, Lattice.of(q), *grid)
    times, _ = timed(fn, repeats, warmup=True)
    return [t / energies for t in times]


# --------------------------------------------------------------------------- machine info


def machine_info() -> dict:
    info = dict(
        platform=platform.platform(),
        machine=platform.machine(),
        processor=platform.processor(),
        python=platform.python_version(),
        numpy=np.__version__,
        scipy=scipy.__version__,
        cpu_count=os.cpu_count(),
        cpus_available=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        thread_env={
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        },
        load_average_start=list(os.getloadavg()),
    )
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        info["blas"] = None
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
        info["blas_threads"] = max((p["num_threads"] for p in pools), default=None)
        info["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
            for p in pools
        ]
    except ImportError:
        info["blas_threads"] = None
        info["blas_threads_note"] = "threadpoolctl not installed; see cpu_count / thread_env"
    try:
        root = Path(__file__).resolve().parent
        git = ["git", "-C", str(root)]
        info["git_commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    return info


# --------------------------------------------------------------------------- report


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def report(res: dict) -> None:
    m = res["machine"]
    cfg = res["config"]
    print("NEGF steady-state cost benchmark (holstein.physics.negf.steady_state)")
    print(
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, numpy {m['numpy']}, "
        f"BLAS {m['blas']}, BLAS threads {m['blas_threads'] or 'n/a (threadpoolctl missing)'}, "
        f"load avg at start {m['load_average_start'] and round(m['load_average_start'][0], 2)}"
    )
    load = m["load_average_start"][0]
    if load > 0.5 * (m["cpu_count"] or 1):
        print(
            f"WARNING: load average {load:.1f} on {m['cpu_count']} CPUs at start: the machine is "
            "busy, timings and ratios are unreliable (multithreaded BLAS suffers most)"
        )
    print(
        f"config: CDW + molten layer (~{cfg['molten_fraction']:.0%} of Lx at x=0, ramp 0->1), "
        f"noise sigma {cfg['noise_sigma']} seed {cfg['seed']}; V={cfg['bias']} {cfg['bias_scheme']}"
        f", gamma={cfg['gamma']}, kT={cfg['temperature']}"
    )
    print()
    print("Timings per size (median wall seconds; inverse = numpy.linalg.inv of e*I - H_eff)")
    head = (
        f"{'size':>7} {'sites':>6} {'molten':>6} {'rep':>3} {'fast':>9} {'exact':>9} "
        f"{'inverse':>9} {'fast/inv':>8} {'exact/inv':>9} {'max|dn| f-e':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in res["sizes"]:
        print(
            f"{r['size']:>7} {r['sites']:>6} {r['molten_columns']:>6} {r['repeats']:>3} "
            f"{fmt_s(r['fast_median']):>9} {fmt_s(r['exact_median']):>9} "
            f"{fmt_s(r['inverse_median']):>9} {r['fast_over_inverse']:>8.2f} "
            f"{r['exact_over_inverse']:>9.2f} {r['fast_vs_exact_max_density_diff']:>11.1e}"
        )
    for s in res["skipped_sizes"]:
        print(f"{s:>7}  skipped (--max-sites {res['args']['max_sites']})")

    main = res["main"]
    t = main["timing"]
    print()
    print(f"Main size {main['size']} ({t['sites']} sites), same run:")
    print(f"  fast steady_state      {t['fast_median']:.3f} s")
    print(f"  exact steady_state     {t['exact_median']:.3f} s")
    print(f"  dense inverse          {t['inverse_median']:.3f} s")
    nv = main["naive"]
    bound = " (LOWER BOUND)" if nv["lower_bound"] else ""
    print(
        f"  naive grid             {nv['seconds']:.1f} s{bound} = {nv['seconds_per_energy']:.3f} s"
        f"/energy x ({nv['energies']} grid + {nv['tail_points']} tail energies)"
    )
    print(f"    ({nv['energies_note']})")
    ratios = main["ratios"]
    verdict = "met" if main["target_met"] else "NOT met"
    print(
        f"  ratios: fast/inverse {ratios['fast/inverse']:.2f} (target <= {TARGET_RATIO}: "
        f"{verdict}), exact/inverse {ratios['exact/inverse']:.2f}, "
        f"naive/fast {ratios['naive/fast']:.0f}{bound}"
    )

    st = res["naive_study"]
    print()
    print(
        f"Naive energy grid vs exact on {st['size']} (midpoint grid on "
        f"[{st['window'][0]:.2f}, {st['window'][1]:.2f}] + {st['tail_points']}-point tail rule "
        f"below; tail rule changes by {st['tail_rule_change_when_doubled']:.1e} when doubled)"
    )
    print(f"{'energies':>9} {'max|dn|':>10} {'(no tail)':>10} {'seconds':>8}")
    for r in st["rows"]:
        print(
            f"{r['energies']:>9} {r['max_error']:>10.2e} {r['max_error_grid_only']:>10.2e} "
            f"{r['seconds']:>8.2f}"
        )
    count = st["smallest_count_reaching_tol"]
    print(
        f"  smallest count reaching {st['tolerance']:.0e}: "
        + (str(count) if count else f"none up to {max(r['energies'] for r in st['rows'])}")
    )

    print()
    print("Resonances of H_eff with Re lambda in the bias window (width = -2 Im lambda)")
    print(
        f"{'size':>7} {'window':>13} {'count':>6} {'min width':>10} {'<1e-3':>6} {'<1e-5':>6} "
        f"{'min width (all)':>15}"
    )
    for r in res["resonances"]:
        w = f"[{r['window'][0]:.1f}, {r['window'][1]:.1f}]"
        print(
            f"{r['size']:>7} {w:>13} {r['count_in_window']:>6} {r['min_width']:>10.1e} "
            f"{r['narrower_than_1e_3']:>6} {r['narrower_than_1e_5']:>6} {r['min_width_all']:>15.1e}"
        )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed calls per function (median; 3, quick 1)"
    )
    ap.add_argument("--sizes", default="20x15,40x30,80x60", help="table sizes, e.g. 20x15,40x30")
    ap.add_argument("--max-sites", type=int, default=None, help="skip table sizes above this")
    ap.add_argument("--main", default="40x30", help="size of the main comparison")
    ap.add_argument("--naive-size", default="20x15", help="lattice of the naive-grid error study")
    ap.add_argument("--energies", default="250,1000,4000", help="naive-grid energy counts")
    ap.add_argument("--out", default="benchmarks/out/negf_speed.json", help="JSON output path")
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, few energies")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.main, args.naive_size = "12x8,20x15", "20x15", "12x8"
        args.energies = "50,200"
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")

    main_size = parse_size(args.main)
    sizes, skipped = [], []
    for s in sorted(
        {parse_size(s) for s in args.sizes.split(",")} | {main_size}, key=lambda s: s[0] * s[1]
    ):
        if args.max_sites is not None and s[0] * s[1] > args.max_sites and s != main_size:
            skipped.append(size_name(s))
        else:
            sizes.append(s)
    counts = sorted({int(c) for c in args.energies.split(",")})

    res = dict(
        args=vars(args),
        machine=machine_info(),
        config=dict(
            t=T_HOP,
            g=G,
            K=K,
            kappa=KAPPA,
            bias=BIAS,
            bias_scheme=SCHEME,
            gamma=GAMMA,
            temperature=KT,
            molten_fraction=MOLTEN_FRACTION,
            noise_sigma=NOISE_SIGMA,
            seed=SEED,
        ),
        skipped_sizes=skipped,
    )
    t_start = time.perf_counter()

    # Small things first: the naive study and the resonance statistics.
    res["naive_study"] = naive_study(parse_size(args.naive_size), counts)
    progress("resonance statistics")
    res["resonances"] = [
        resonance_stats(s) for s in dict.fromkeys([parse_size(args.naive_size), main_size])
    ]
    progress(f"naive time per energy at {args.main}")
    per_energy = naive_time_per_energy(main_size, args.repeats)

    res["sizes"] = [time_size(s, args.repeats) for s in sizes]
    timing = next(r for r in res["sizes"] if r["size"] == size_name(main_size))

    st = res["naive_study"]
    lower_bound = st["smallest_count_reaching_tol"] is None
    count = max(counts) if lower_bound else st["smallest_count_reaching_tol"]
    t_energy = statistics.median(per_energy)
    naive_total = t_energy * (count + NAIVE_TAIL_POINTS)
    note = (
        f"no count up to {count} reached {NAIVE_TOL:.0e} on {st['size']}: lower bound"
        if lower_bound
        else f"smallest count reaching {NAIVE_TOL:.0e} on {st['size']}; {args.main} has "
        "narrower resonances, so this is optimistic"
    )
    res["main"] = dict(
        size=size_name(main_size),
        timing=timing,
        naive=dict(
            seconds_per_energy_samples=per_energy,
            seconds_per_energy=t_energy,
            energies=count,
            tail_points=NAIVE_TAIL_POINTS,
            seconds=naive_total,
            lower_bound=lower_bound,
            energies_note=note,
        ),
        ratios={
            "fast/inverse": timing["fast_over_inverse"],
            "exact/inverse": timing["exact_over_inverse"],
            "naive/fast": naive_total / timing["fast_median"],
            "naive/exact": naive_total / timing["exact_median"],
        },
        target=f"fast/inverse <= {TARGET_RATIO}",
        target_met=bool(timing["fast_over_inverse"] <= TARGET_RATIO),
    )
    res["total_seconds"] = time.perf_counter() - t_start
    res["machine"]["load_average_end"] = list(os.getloadavg())

    report(res)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nJSON written to {out} (total {res['total_seconds']:.1f} s)")
    return res


if __name__ == "__main__":
    main()
