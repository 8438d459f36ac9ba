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


PHYSICS_CODE = code_hash(
    "lattice", "negf", "forces", "dynamics", "initial", "simulation", "io"
)
INITIAL_CODE = code_hash("lattice", "negf", "forces", "initial", "simulation")
MODEL_CODE = code_hash("mlff", "dataset", "training", "io")
ANALYSIS_CODE = code_hash("observables", "analysis")
VALIDATION_CODE = code_hash("observables", "validation")
LARGE_LATTICE_CODE = code_hash("observables", "io", "large_lattice")

TRAIN = config["training_data"]
VALID = config["validation"]
TRAIN_BIASES = {bias_label(b): b for b in TRAIN["biases"]}
VALID_BIASES = {bias_label(b): b for b in VALID["biases"]}
MODEL_CHECKPOINT = "results/model/mlff.pt"
LARGE = config["large_lattice"]


def start_input(lattice):
    """The relaxed start of ``lattice`` (rule relax_initial_state) when dynamics.initial is
    relaxed, an input of every Brownian run on it; nothing for the checkerboard start.
    """
    if config["dynamics"]["initial"] != "relaxed":
        return []
    return "results/initial/relaxed_{Lx}x{Ly}.npz".format(**lattice)


LARGE_TAG = f"{LARGE['Lx']}x{LARGE['Ly']}_V{bias_label(LARGE['bias'])}_s{LARGE['seed']}"


def large_lattice_mem_mb():
    """Memory of the large run: the recorded frames (q, 8 bytes a site) plus a margin for
    the model's activations (float32, channels x sites per layer) and the interpreter.
    """
    sites = LARGE["Lx"] * LARGE["Ly"]
    frames = LARGE["n_steps"] // LARGE["stride"] + 1
    # Twice the frames: the list of frames and the stacked array exist together at the end.
    return int(2 * frames * sites * 8 / 1e6 + 200 * sites * 4 / 1e6 + 1500)
