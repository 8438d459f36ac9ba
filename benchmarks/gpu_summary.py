"""The outputs of benchmarks/gpu_check.sh in one JSON document, each figure with its GPU.

Usage: python benchmarks/gpu_summary.py OUT_DIR   (prints the JSON)
Reads what the check wrote to OUT_DIR; a step that did not produce its file is reported
as missing, never as a number.  Targets (issue-level claims the README may quote only
from this file): NEGF 40 x 30 <= 0.4 s and 80 x 60 <= 4 s per steady state within 1e-8
of the CPU; the ML step >= 1e8 site-steps/s at 2048 x 2048; the tiny pipeline green.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NEGF_TARGET_S = {(40, 30): 0.4, (80, 60): 4.0}
NEGF_AGREEMENT = 1e-8
ML_TARGET_SITE_STEPS = 1e8


def read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def read_rc(path: Path):
    return int(path.read_text().strip()) if path.exists() else None


def summarise(out: Path) -> dict:
    gpu = (out / "gpu.txt").read_text().strip().splitlines()[1:] if (
        out / "gpu.txt").exists() else []
    summary = {"gpu": gpu, "missing": []}
    tests_log = out / "gpu_tests.log"
    summary["gpu_tests"] = {
        "rc": read_rc(out / "gpu_tests.rc"),
        "result": tests_log.read_text().strip().splitlines()[-1] if tests_log.exists() else None,
    }
    negf = read_json(out / "negf_device.json")
    summary["negf"] = []
    for row in (negf or {}).get("rows", []):
        entry = {k: row.get(k) for k in ("Lx", "Ly", "cpu_steady_state_s",
                                          "gpu_steady_state_s", "gpu_max_deviation",
                                          "gpu_name")}
        target = NEGF_TARGET_S.get((row["Lx"], row["Ly"]))
        if target is not None and row.get("gpu_steady_state_s") is not None:
            entry["meets_target"] = bool(row["gpu_steady_state_s"] <= target
                                         and row["gpu_max_deviation"] <= NEGF_AGREEMENT)
        summary["negf"].append(entry)
    summary["ml_precision"] = read_json(out / "ml_precision.json")
    for name in ("mlff_speed_cuda", "mlff_speed_transport_cuda"):
        speed = read_json(out / f"{name}.json")
        if speed is None:
            summary["missing"].append(name)
            continue
        rows = [{"model": "local", **{k: r[k] for k in ("Lx", "Ly", "site_steps_per_s")}}
                for r in speed.get("ml", [])]
        rows += [{"model": "transport", **{k: r[k] for k in ("Lx", "Ly", "site_steps_per_s")}}
                 for r in speed.get("transport", [])]
        for r in rows:
            if (r["Lx"], r["Ly"]) == (2048, 2048):
                r["meets_target"] = bool(r["site_steps_per_s"] >= ML_TARGET_SITE_STEPS)
        summary[name] = {"machine": speed.get("machine"), "rows": rows}
    devices = {}
    for log in sorted((out / "tiny_logs").rglob("*.log")) if (out / "tiny_logs").exists() else []:
        found = re.findall(r"computing on (cuda:\d+) \(([^)]*)\)", log.read_text())
        devices[str(log.relative_to(out))] = found
    summary["tiny_pipeline"] = {"rc": read_rc(out / "tiny_cuda.rc"),
                                "gpu_jobs": devices,
                                "transport_rc": read_rc(out / "tiny_transport.rc")}
    for name, value in (("negf_device", negf), ("ml_precision", summary["ml_precision"])):
        if value is None:
            summary["missing"].append(name)
    return summary


if __name__ == "__main__":
    print(json.dumps(summarise(Path(sys.argv[1])), indent=2))
