"""The local force field against the transport-field one, next to the locality floor.

Two subcommands.

``train``: one model from NEGF training shards, through the pipeline's own training entry
(``holstein.stages.train.train_from_shards``: checkpoint, metrics JSON, parity
table).  The ``model`` section is the pipeline's schema defaults, then config.yaml's
``model`` section (the transport model), then ``--set key=value`` (YAML values; internal
knobs allowed), here the local model::

    python scripts/transport_field.py train SHARDS... --out DIR --set kind=local \
        --set bond_loss_weight=0

``evaluate``: every ``--model NAME=CHECKPOINT`` on every NEGF trajectory given (held-out
shards on the training lattice, reference runs on a longer one), per trajectory:

* force RMSE / force std on all frames, and on the late frames (after ``--skip-fraction``
  of the run) that the floor is estimated on, both relative to the trajectory's force
  std (the normalisation of ``scripts/locality_floor.py``);
* the cutoff-R locality floor (``holstein.physics.locality``, splice estimate with the exact NEGF
  force) on those late frames, cached in ``--floors`` (it does not depend on the model),
  and, on the same splices, how much of the NEGF force's dependence on Q beyond R each
  model misses: ``missed_outside_R`` = sqrt(E[(d_NEGF - d_model)^2] / 2) / std, where d is
  the change of the force at the centre when Q outside R is swapped (equal to the floor
  for a model of cutoff <= R, which cannot see outside; lower when the model captures
  part of the outside dependence);
* per lattice and bias, the device current after the NEGF switch and the Kirchhoff spread
  of the model's bond currents (``holstein.ml.reference.reference_current``).

It writes everything to ``--out`` (JSON) and prints the markdown tables::

    python scripts/transport_field.py evaluate --model local=A/mlff.pt \
        --model transport=B/mlff.pt --trajectories TEST... REFS... --out docs/transport_field.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from holstein.data.atomic import write_text_atomic  # noqa: E402
from holstein.data.io import read_trajectory  # noqa: E402
from holstein.ml.members import member_section  # noqa: E402
from holstein.pipeline.defaults import ConfigDefaults  # noqa: E402

DEFAULTS = ConfigDefaults.read(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def model_section(overrides: list[str]) -> dict:
    hyper = dict(DEFAULTS.config["model"])
    hyper.update(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["model"])
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: write key=value")
        hyper[key] = yaml.safe_load(value)
    return member_section(hyper, 0)  # one model: the committee's member 0


def cmd_train(args) -> None:
    import logging

    import torch

    from holstein.stages.train import train_from_shards

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    hyper = model_section(args.set)
    torch.set_num_threads(int(hyper.get("threads") or 1))
    args.out.mkdir(parents=True, exist_ok=True)
    summary = train_from_shards(args.shards, hyper, args.out / "mlff.pt",
                                args.out / "metrics.json", args.out / "parity.parquet")
    print(json.dumps(summary["held_out_force_rmse"], indent=1))


def floor_key(path: Path, args) -> str:
    return (f"{Path(path).name}|R{','.join(map(str, args.radii))}|n{args.samples}|"
            f"skip{args.skip_fraction}|sep{args.min_separation}|seed{args.seed}")


def reference_runs(paths) -> list:
    """The NEGF trajectories with the switch of their own device current."""
    from holstein.ml.reference import ReferenceRun
    from holstein.stages.analyse import current_switch

    runs = []
    for path in paths:
        arrays, meta = read_trajectory(path)
        switch = current_switch(arrays["time"], arrays["current"])
        runs.append(ReferenceRun(str(path), arrays, meta, switch))
    return runs


def cmd_evaluate(args) -> None:
    import torch

    from holstein.ml.metrics import predict_all
    from holstein.ml.provider import load
    from holstein.ml.reference import reference_current
    from holstein.physics.forces import negf_provider
    from holstein.physics.locality import floor_row, splice_differences, splice_samples

    torch.set_num_threads(args.threads)
    models = {}
    for item in args.model:
        name, _, path = item.partition("=")
        models[name] = load(path)
    floors = json.loads(args.floors.read_text()) if args.floors and args.floors.exists() else {}
    rows = []
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in args.trajectories:
        arrays, meta = read_trajectory(path)
        q, force = arrays["q"], arrays["force"]
        lattice = f"{q.shape[1]}x{q.shape[2]}"
        groups[lattice].append(path)
        late = slice(int(args.skip_fraction * len(q)), None)
        std = float(np.std(force))
        row = {"file": str(path), "lattice": lattice, "bias": float(arrays["bias"][0]),
               "seed": int(arrays["seed"][0]), "n_frames": len(q),
               "n_late_frames": len(q[late]), "force_std": std, "models": {}}
        for name, provider in models.items():
            t0 = time.perf_counter()
            pred = predict_all(provider, q, arrays["bias"], observables=False)["force"]
            err = pred - force
            row["models"][name] = {
                "relative_rmse": float(np.sqrt(np.mean(err**2))) / std,
                "relative_rmse_late": float(np.sqrt(np.mean(err[late] ** 2))) / std,
                "seconds": time.perf_counter() - t0,
            }
        key = floor_key(path, args)
        if key not in floors:  # the NEGF side of the splices: model independent, cached
            t0 = time.perf_counter()
            negf = negf_provider(meta["physics"], args.method)
            rng = np.random.default_rng(args.seed)
            entry, unspliced = {}, {}
            for radius in args.radii:
                samples = splice_samples(len(q[late]), q.shape[1:], args.samples, rng,
                                         args.min_separation)
                d = splice_differences(
                    lambda qq, b=row["bias"], p=negf: p.electronic_force(qq, b), q[late],
                    radius, args.samples, rng, cache=unspliced, samples=samples)
                entry[str(radius)] = {"samples": samples.tolist(), "negf": d.tolist()}
            entry["seconds"] = time.perf_counter() - t0
            floors[key] = entry
            if args.floors:
                write_text_atomic(args.floors, json.dumps(floors))
        row["floors"] = []
        for radius in args.radii:
            cached = floors[key][str(radius)]
            samples, d_negf = np.array(cached["samples"]), np.array(cached["negf"])
            boot = np.random.default_rng(args.seed + radius)
            f = floor_row(d_negf, radius, boot)
            f.update(relative_floor=f["floor"] / std, relative_floor_error=f["floor_error"] / std)
            # the part of the outside dependence each model misses, on the same splices
            for name, provider in models.items():
                d_model = splice_differences(
                    lambda qq, b=row["bias"], p=provider: p.electronic_force(qq, b), q[late],
                    radius, len(samples), None, cache={}, samples=samples)
                miss = floor_row(d_negf - d_model, radius, boot)
                row["models"][name][f"missed_outside_R{radius}"] = miss["floor"] / std
                row["models"][name][f"missed_outside_R{radius}_error"] = miss["floor_error"] / std
            row["floors"].append(f)
        line = "  ".join(f"{n} {m['relative_rmse_late']:.4f}" for n, m in row["models"].items())
        fl = "  ".join(f"R={f['radius']} {f['relative_floor']:.4f}" for f in row["floors"])
        print(f"{lattice} V={row['bias']:g} s{row['seed']}: floor {fl} | late {line}",
              flush=True)
        rows.append(row)
    currents = {}
    for name, provider in models.items():
        if provider.model.bond_heads:
            currents[name] = {lat: reference_current(provider, reference_runs(paths))
                              for lat, paths in groups.items()}
    out = {
        "command": " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": args.threads},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("func", "trajectories", "model")},
        "models": {name: {"checkpoint": item.partition("=")[2],
                          "architecture": models[name].model.architecture.as_dict()}
                   for name, item in zip(models, args.model, strict=True)},
        "trajectories": rows,
        "currents": currents,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(out, indent=1, default=float))
    print(tables(out))


def tables(result: dict) -> str:
    """Markdown: force error against the floor per lattice and bias; the device current."""
    names = list(result["models"])
    radii = [f["radius"] for f in result["trajectories"][0]["floors"]]
    r = radii[-1]
    head = (["lattice", "V", "seed"] + [f"floor R = {rr}" for rr in radii]
            + [f"{n}: {what}" for n in names
               for what in ("late frames", "/ floor", f"misses outside R = {r}", "all frames")])
    lines = ["| " + " | ".join(head) + " |", "| --- " * len(head) + "|"]
    for row in result["trajectories"]:
        fl = {f["radius"]: f for f in row["floors"]}
        floor = fl[r]["relative_floor"]
        cells = [row["lattice"], f"{row['bias']:g}", str(row["seed"])]
        cells += [f"{fl[rr]['relative_floor']:.4f} +- {fl[rr]['relative_floor_error']:.4f}"
                  for rr in radii]
        for n in names:
            m = row["models"][n]
            cells += [f"{m['relative_rmse_late']:.4f}",
                      f"{m['relative_rmse_late'] / floor:.2f}" if floor > 0 else "-",
                      f"{m[f'missed_outside_R{r}']:.4f} +- {m[f'missed_outside_R{r}_error']:.4f}",
                      f"{m['relative_rmse']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if result["currents"]:
        lines += ["", "| model | lattice | V | NEGF current | error of the mean | per-frame RMSE"
                  " / mean | Kirchhoff spread / current | frames |", "| --- " * 8 + "|"]
        for name, per_lattice in result["currents"].items():
            for lattice, per_bias in per_lattice.items():
                for bias, c in (per_bias or {}).items():
                    lines.append(
                        f"| {name} | {lattice} | {bias} | {c['negf_mean_current']:.4f} | "
                        f"{100 * c['relative_error_of_mean']:.1f} % | "
                        f"{100 * c['relative_rmse']:.1f} % | "
                        f"{c['ml_relative_kirchhoff_spread']:.2g} | {c['n_snapshots']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True)
    tr = sub.add_parser("train", help="train one model from NEGF shards")
    tr.add_argument("shards", type=Path, nargs="+")
    tr.add_argument("--out", type=Path, required=True, help="directory for mlff.pt etc.")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="force error, floor and current per trajectory")
    ev.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    ev.add_argument("--trajectories", type=Path, nargs="+", required=True)
    ev.add_argument("--radii", type=int, nargs="+", default=[6])
    ev.add_argument("--samples", type=int, default=200)
    locality = DEFAULTS.config["locality"]
    ev.add_argument("--skip-fraction", type=float, default=locality["skip_fraction"])
    ev.add_argument("--min-separation", type=int, default=locality["min_separation"],
                    help="frames")
    ev.add_argument("--method", default=DEFAULTS.negf_method)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threads", type=int, default=1)
    ev.add_argument("--floors", type=Path, default=None, help="JSON cache of the floors")
    ev.add_argument("--out", type=Path, required=True)
    ev.set_defaults(func=cmd_evaluate)
    tb = sub.add_parser("table", help="print the tables of an evaluate JSON")
    tb.add_argument("result", type=Path)
    tb.set_defaults(func=lambda a: print(tables(json.loads(a.result.read_text()))))
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
