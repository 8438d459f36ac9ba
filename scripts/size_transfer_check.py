"""Does a trained ML force field transfer to a longer sample?  NEGF against ML at one size.

Runs NEGF and ML Brownian dynamics from the same checkerboard with the same seed on an
Lx x Ly lattice longer than the training one (default 40 x 14, bias 2.2, seed 201,
1200 steps; NEGF costs about 0.55 s per step there on one core, so about 11 minutes),
then prints the wall velocity, half-decay time, late current and switching time of both
and writes their kymographs side by side.  The NEGF trajectory is kept and reused when
it exists (it does not depend on the model).

    python scripts/size_transfer_check.py results/model/member_0/mlff.pt \
        --out docs/size_transfer.png

Physics and dynamics come from config.yaml (and --configfile overrides).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from holstein.data.io import read_trajectory  # noqa: E402
from holstein.ml.committee import load_committee  # noqa: E402
from holstein.physics.forces import negf_provider  # noqa: E402
from holstein.pipeline.runs import simulate  # noqa: E402
from holstein.report import plotting as pl  # noqa: E402
from holstein.stages.analyse import run_time_series, summarise  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path,
                        help="trained checkpoint (results/model/member_0/mlff.pt)")
    parser.add_argument("--configfile", type=Path, nargs="*", default=[])
    parser.add_argument("--Lx", type=int, default=40)
    parser.add_argument("--Ly", type=int, default=14)
    parser.add_argument("--bias", type=float, default=2.2)
    parser.add_argument("--seed", type=int, default=201)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=ROOT / "results" / "size_transfer")
    parser.add_argument("--out", type=Path, default=None, help="figure (default in workdir)")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for extra in args.configfile:
        for key, value in (yaml.safe_load(extra.read_text()) or {}).items():
            config.setdefault(key, {}).update(value)
    physics, dynamics = config["physics"], config["dynamics"]
    lattice = {"Lx": args.Lx, "Ly": args.Ly}
    # The NEGF run is reused only for the same lattice, bias, seed, length, stride, physics
    # and dynamics (hashed into the name).
    setup = json.dumps([physics, dynamics, config["negf"]["method"], args.stride], sort_keys=True)
    tag = (f"{args.Lx}x{args.Ly}_V{args.bias:g}_s{args.seed}_n{args.steps}_"
           f"{hashlib.sha256(setup.encode()).hexdigest()[:8]}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = {"negf": args.workdir / f"negf_{tag}.parquet", "ml": args.workdir / f"ml_{tag}.parquet"}
    for name in ("ml", "negf"):
        if name == "negf" and paths[name].exists():
            print(f"reusing {paths[name]}")
            continue
        provider = (negf_provider(physics, config["negf"]["method"]) if name == "negf"
                    else load_committee([str(args.model)], expect=physics))
        simulate(paths[name], provider, name, lattice, physics, dynamics, args.bias, args.seed,
                 args.steps, args.stride)

    plt = pl.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained", sharey=True)
    report = {}
    for ax, name in zip(axes, ("negf", "ml"), strict=True):
        arrays, meta = read_trajectory(paths[name])
        series = run_time_series(arrays, meta)
        summary = summarise(series, meta)
        report[name] = {k: summary[k] for k in ("wall_velocity", "half_decay_time",
                                                "late_current", "switching_time",
                                                "seconds_per_step")}
        image = pl.run_kymograph(ax, series)
        ax.set_title(f"{pl.PROVIDERS[name].name}: v = {summary['wall_velocity']:.3f} sites "
                     "per ħ/t", fontsize=10)
        ax.label_outer()
    fig.suptitle(f"{args.Lx} x {args.Ly}, V = {args.bias:g} t/e, seed {args.seed}; ML model "
                 f"{args.model}; dashed: domain wall", fontsize=9)
    pl.profile_colorbar(fig, image, axes)
    out = args.out or args.workdir / f"size_transfer_{tag}.png"
    pl.finish(fig, out, dpi=110)
    print(json.dumps(report, indent=2))
    for key in ("wall_velocity", "half_decay_time", "late_current", "switching_time"):
        ml, negf = report["ml"][key], report["negf"][key]
        print(f"{key}: NEGF {negf:.4g}, ML {ml:.4g} ({100 * (ml - negf) / negf:+.1f} %)")
    print(f"figure: {out}")


if __name__ == "__main__":
    main()
