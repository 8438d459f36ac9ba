import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from holstein.config import check_config, bias_label  # noqa: E402

check_config(config)


def code_hash(*modules):
    """Hash of package modules: Snakemake does not see changes inside src/, params do."""
    h = hashlib.sha256()
    for m in sorted(modules):
        h.update((Path(workflow.basedir) / "src" / "holstein" / f"{m}.py").read_bytes())
    return h.hexdigest()[:16]


PHYSICS_CODE = code_hash("lattice", "negf", "forces", "dynamics", "simulation", "io")
MODEL_CODE = code_hash("mlff", "dataset", "training", "io")
ANALYSIS_CODE = code_hash("observables", "analysis")
VALIDATION_CODE = code_hash("observables", "validation")

TRAIN = config["training_data"]
VALID = config["validation"]
TRAIN_BIASES = {bias_label(b): b for b in TRAIN["biases"]}
VALID_BIASES = {bias_label(b): b for b in VALID["biases"]}
MODEL_CHECKPOINT = "results/model/mlff.pt"
