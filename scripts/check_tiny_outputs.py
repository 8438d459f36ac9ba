"""Check the outputs of a finished tiny pipeline run (tests/data/tiny.yaml).

    python scripts/check_tiny_outputs.py [RESULTS_DIR] [CONFIG]

Used by scripts/test_slurm.sh after its SLURM run, and by tests/test_workflow.py on the
local tiny run, so that both read the same output layout.  Exits non-zero, naming the
missing or empty output, when one is absent.
"""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from holstein.ml.members import committee_size
from holstein.pipeline.config import bias_label


def check(results: Path, config: Path) -> None:
    tiny = yaml.safe_load(config.read_text())
    train, valid = tiny["training_data"], tiny["validation"]
    for b in train["biases"]:
        for s in train["seeds"]:
            table = pq.read_table(results / "negf_training" / f"V{bias_label(b)}_s{s}.parquet")
            assert table.num_rows > 0 and "force" in table.column_names, (b, s)
    for provider in ("ml", "negf"):
        for b in valid["biases"]:
            for s in valid["seeds"]:
                name = f"V{bias_label(b)}_s{s}"
                runs = pq.read_table(results / "runs" / provider / f"{name}.parquet")
                assert runs.num_rows > 0, (provider, name)
                json.loads((results / "analysis" / provider / f"{name}.json").read_text())
                csv = results / "analysis" / provider / f"{name}.csv"
                assert csv.stat().st_size > 0, csv
    for member in range(committee_size(tiny["model"])):
        checkpoint = results / "model" / f"member_{member}" / "mlff.pt"
        assert checkpoint.stat().st_size > 0, checkpoint
    figures = [results / "validation" / f"{name}.png"
               for name in ("wall_velocity", "order_decay", "kymographs", "current")]
    figures.append(results / "cost" / "validation" / "cost.png")
    for figure in figures:
        assert figure.stat().st_size > 1000, figure
    json.loads((results / "validation" / "metrics.json").read_text())
    cost = json.loads((results / "cost" / "validation" / "cost.json").read_text())
    assert cost["speedup_negf_over_ml"] > 0
    assert all(v > 0 for v in cost["cost_per_step_seconds"].values())


if __name__ == "__main__":
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    config = Path(sys.argv[2] if len(sys.argv) > 2 else "tests/data/tiny.yaml")
    check(results, config)
    print(f"tiny outputs OK under {results}")
