import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# This checkout's package, for the workflow and for every job: a job must run the code
# its code fingerprint describes, never an installed copy.  Jobs are separate Python
# processes, so they get the path through PYTHONPATH.
WORKFLOW_DIR = Path(workflow.current_basedir).resolve().parent
CHECKOUT_SRC = WORKFLOW_DIR.parent / "src"
if (CHECKOUT_SRC / "holstein").is_dir():
    sys.path.insert(0, str(CHECKOUT_SRC))
    os.environ.update(
        PYTHONPATH=os.pathsep.join(
            [str(CHECKOUT_SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    )

from holstein.pipeline.config import (
    bias_label,
    canonical_config,
    check_config,
)  # noqa: E402
from holstein.pipeline.fingerprint import code_fingerprint  # noqa: E402
from holstein.pipeline import resources  # noqa: E402
from holstein.device import (
    cuda_available,
    job_device,
    negf_device,
    plans_gpu,
)  # noqa: E402
from holstein.ml.members import (  # noqa: E402
    committee_size,
    iteration_section,
    member_section,
)
from holstein.data.records import DEVIATION_FIELDS, DEVIATION_SUMMARIES  # noqa: E402

SCHEMA = yaml.safe_load((WORKFLOW_DIR / "schemas" / "config.schema.yaml").read_text())
# Job parameters are compared as text: one canonical form of the validated config.
_canonical = canonical_config(config, SCHEMA)
config.clear()
config.update(_canonical)
check_config(config)


# The code fingerprint of every adapter: the script and every package module it imports.
# An adapter imports one stage module (holstein.stages), which imports only what the job
# runs, so the fingerprint follows from the imports alone (tests compare it with the
# modules each job really loaded).
CODE = {
    script.stem: code_fingerprint(script)
    for script in sorted((WORKFLOW_DIR / "scripts").glob("*.py"))
}

# The device of every job is decided where it is planned, and reaches the job as a
# concrete 'cpu' or 'cuda' (the job claims one GPU of its own, holstein.device.gpu_slot).
# The decision is taken when the first job is planned, not at the parse: only then does
# Snakemake know its executor.  A local run checks the setting against this machine
# ('auto' looks for a GPU, 'cuda' without one stops before any job; a dry run warns); a
# cluster's submit host and its jobs on the compute nodes (which parse the workflow
# again, in remote mode) decide from the setting alone, the same way on every node.
DEVICE = config["device"]
_PIPELINE_GPU = []


def pipeline_gpu():
    """Whether jobs that can use a GPU request one (decided once, at the first job)."""
    if not _PIPELINE_GPU:
        here = workflow.local_exec and workflow.is_main_process
        # A dry run may preview a cluster submission, and --report, --summary and
        # --list-changes plan without an executor: they read the plan and run nothing.
        previewing = workflow.dryrun or workflow.executor_plugin is None
        try:
            _PIPELINE_GPU.append(plans_gpu(DEVICE, here))
        except ValueError as error:
            if not previewing:
                raise
            logger.warning(
                f"{error}. A local run would stop here; this preview goes on."
            )
            _PIPELINE_GPU.append(True)
        if _PIPELINE_GPU[0] and here and cuda_available():
            check_gpu_memory()
    return _PIPELINE_GPU[0]


def _job_uses(uses_gpu, wildcards):
    return uses_gpu(wildcards) if callable(uses_gpu) else uses_gpu


def gpus(uses_gpu=True):
    """The gpu resource (1 or 0) of a job that can use a GPU where ``uses_gpu`` (a bool,
    or a function of the job's wildcards)."""
    return lambda wildcards: int(
        job_device(pipeline_gpu(), _job_uses(uses_gpu, wildcards)) == "cuda"
    )


def device_of(uses_gpu=True):
    """The device param of the same job: 'cuda' exactly where it declares gpu=1."""
    return lambda wildcards: job_device(pipeline_gpu(), _job_uses(uses_gpu, wildcards))


def run_uses_gpu(negf_on_gpu):
    """Whether a Brownian run can use a GPU, from its wildcards: an ML run always, an
    NEGF run on a lattice where the GPU pays (``negf_on_gpu``)."""
    return lambda wildcards: wildcards.provider == "ml" or negf_on_gpu


def floor_uses_gpu(wildcards):
    """The floor's NEGF solves use the GPU where its trajectory's lattice makes it pay."""
    if wildcards.source.startswith("transfer"):
        return TRANSFER_NEGF_ON_GPU
    return NEGF_ON_GPU


# The committee of force fields: one training job per member, every ML job reads all.
MEMBERS = list(range(committee_size(config["model"])))
PREDICTOR = config["model"]["committee_predictor"]

# Active learning: iteration i's committee is trained on the training shards and the
# labels of iterations 1 .. i; the last iteration's committee drives the ML runs.
AL = config["active_learning"]
AL_BIASES = {bias_label(b): b for b in AL["explore"]["biases"]}
AL_LABEL_JOBS = -(-AL["frames_per_iteration"] // AL["frames_per_label_job"])
# The model section the committee that drives the ML runs was trained with (a warm-started
# iteration trains with a short schedule of its own).
COMMITTEE_MODEL = iteration_section(config["model"], AL["retrain"], AL["iterations"])


def al_member_section(wildcards):
    """The training parameters of one member of an active-learning iteration."""
    section = iteration_section(
        config["model"], AL["retrain"], int(wildcards.iteration)
    )
    return member_section(section, int(wildcards.member))


def al_initial_member(wildcards):
    """The checkpoint a member of an iteration starts from: the same member of the
    previous iteration when warm-started, nothing when trained from scratch."""
    if AL["retrain"]["start"] == "scratch":
        return []
    return committee_checkpoints(int(wildcards.iteration) - 1)[int(wildcards.member)]


def committee_checkpoints(iteration, name="mlff.pt"):
    """The member checkpoints (or another file ``name`` of each member) of an iteration's
    committee (0: the pipeline's)."""
    folder = (
        "results" if iteration == 0 else f"results/active_learning/iter_{iteration}"
    )
    return expand(f"{folder}/model/member_{{member}}/{name}", member=MEMBERS)


def label_shards(iteration, only=False):
    """The label shards of iterations 1 .. ``iteration`` (``only``: of that one)."""
    return expand(
        "results/active_learning/iter_{i}/labels/al{i}_labels_{shard}.parquet",
        i=[iteration] if only and iteration else range(1, iteration + 1),
        shard=range(AL_LABEL_JOBS),
    )


def exploration_runs(wildcards):
    """The exploration runs of an iteration: every lattice, bias and seed."""
    explore = AL["explore"]
    return expand(
        "results/active_learning/iter_{iteration}/explore/{lattice}_V{bias}_s{seed}.parquet",
        iteration=wildcards.iteration,
        lattice=[
            f"{lat['Lx']}x{lat['Ly']}" for lat in explore["lattices"] or [LATTICE]
        ],
        bias=AL_BIASES,
        seed=explore["seeds"],
    )


def selection_stats(wildcards):
    """The selection counts of an iteration's exploration (none for iteration 0)."""
    if int(wildcards.iteration) == 0:
        return []
    return "results/active_learning/iter_{iteration}/selection.json".format(**wildcards)


COMMITTEE_CHECKPOINTS = committee_checkpoints(AL["iterations"])
COMMITTEE_METRICS = committee_checkpoints(AL["iterations"], "metrics.json")
# The committee with its calibration (holstein.ml.committee_file): what ML runs beyond the
# validation read their expected force error from.
COMMITTEE_FILE = "results/model/committee.json"

# Threads: NEGF jobs are one small dense problem each (one thread, many jobs side by
# side); training and the large-lattice run parallelise, so they take the cores --cores
# grants, up to a cap beyond which torch gains little.  The members of the committee
# train side by side, each on its share of the cores (on a cluster: of the profile's
# cores, the most one job asks for).
TRAIN_MAX_THREADS = 8


def _granted_cores():
    """--cores N, or None where no core count is given (--report, cluster runs)."""
    try:
        cores = workflow.cores
    except WorkflowError:
        return None
    return cores if isinstance(cores, int) and cores < 4096 else None


_CORES = _granted_cores()
TRAIN_THREADS = (
    TRAIN_MAX_THREADS
    if _CORES is None
    else max(1, min(_CORES // len(MEMBERS), TRAIN_MAX_THREADS))
)

LATTICE = config["lattice"]
TRAIN = config["training_data"]
VALID = config["validation"]
TRAIN_BIASES = {bias_label(b): b for b in TRAIN["biases"]}
VALID_BIASES = {bias_label(b): b for b in VALID["biases"]}
TIME_STEP_BIASES = {bias_label(b): b for b in VALID["time_step_check"]["biases"]}
# The two runs of the time-step check, as (steps per validation step, noise draws per
# step): the validation's dt with two draws, and dt / 2 with one, so that both feel the
# same Brownian path (holstein.physics.langevin).
TIME_STEP_RESOLUTIONS = {"coarse": (1, 2), "fine": (2, 1)}


def time_step_dynamics(resolution):
    """The dynamics section of a time-step run (same physical time and frames)."""
    steps, draws = TIME_STEP_RESOLUTIONS[resolution]
    return {
        **config["dynamics"],
        "dt": config["dynamics"]["dt"] / steps,
        "noise_substeps": draws,
        "checkpoint_every": config["dynamics"]["checkpoint_every"] * steps,
    }


LARGE = config["large_lattice"]
TRANSFER = config["transfer"]
TRANSFER_LATTICE = {"Lx": TRANSFER["Lx"], "Ly": TRANSFER["Ly"]}
TRANSFER_BIASES = {bias_label(b): b for b in TRANSFER["biases"]}
LOCALITY = config["locality"]


def start_input(lattice):
    """The relaxed start of ``lattice`` (rule relax_initial_state) when dynamics.initial is
    relaxed, an input of every Brownian run on it; nothing for the checkerboard start.
    """
    if config["dynamics"]["initial"] != "relaxed":
        return []
    return "results/initial/relaxed_{Lx}x{Ly}.npz".format(**lattice)


LARGE_TAG = f"{LARGE['Lx']}x{LARGE['Ly']}_V{bias_label(LARGE['bias'])}_s{LARGE['seed']}"
LARGE_THREADS = (
    LARGE["threads"] if _CORES is None else max(1, min(_CORES, LARGE["threads"]))
)

# Every product of the pipeline for this config.  The default target asks for all of
# them: Snakemake does not rebuild a missing intermediate whose dependants exist, so a
# deleted shard or model would otherwise stay missing and its dependants stale.
TRAINING_SHARDS = expand(
    "results/negf_training/V{bias}_s{seed}.parquet",
    bias=TRAIN_BIASES,
    seed=TRAIN["seeds"],
)
RUNS = expand(
    "results/runs/{provider}/V{bias}_s{seed}.parquet",
    provider=["ml", "negf"],
    bias=VALID_BIASES,
    seed=VALID["seeds"],
)
REFERENCE_RUNS = expand(
    "results/runs/negf/V{bias}_s{seed}.parquet", bias=VALID_BIASES, seed=VALID["seeds"]
)
TRANSFER_RUNS = expand(
    "results/transfer/runs/{provider}/V{bias}_s{seed}.parquet",
    provider=["ml", "negf"],
    bias=TRANSFER_BIASES,
    seed=TRANSFER["seeds"],
)
# The locality floor of every NEGF trajectory: the training shards, and the transfer
# references when the transfer stage runs.
LOCALITY_FLOORS = {
    "training": expand(
        "results/locality/negf_training/V{bias}_s{seed}.json",
        bias=TRAIN_BIASES,
        seed=TRAIN["seeds"],
    ),
    "transfer": (
        expand(
            "results/locality/transfer/runs/negf/V{bias}_s{seed}.json",
            bias=TRANSFER_BIASES,
            seed=TRANSFER["seeds"],
        )
        if TRANSFER["enabled"]
        else []
    ),
}


# Memory per job from the lattice size; a lattice that cannot fit is refused up front.
def _memory_limit_mb():
    granted = workflow.global_resources.get("mem_mb")
    granted = getattr(granted, "value", granted)  # a snakemake Resource, or a number
    if granted is not None:
        return int(granted)
    return resources.physical_memory_mb() if workflow.local_exec else None


def _frames(section):
    return section["n_steps"] // section["stride"] + 1


N_SITES = LATTICE["Lx"] * LATTICE["Ly"]
NEGF_ON_GPU = negf_device("cuda", N_SITES) == "cuda"
NEGF_MEM_MB = {
    "training": resources.negf_job_mb(N_SITES, _frames(TRAIN)),
    "validation": resources.negf_job_mb(N_SITES, _frames(VALID)),
}
ML_MEM_MB = resources.ml_job_mb(
    N_SITES,
    _frames(VALID),
    config["model"]["channels"] * len(MEMBERS),
    lattice_fields=6,
)
TRANSFER_SITES = TRANSFER["Lx"] * TRANSFER["Ly"]
TRANSFER_NEGF_ON_GPU = negf_device("cuda", TRANSFER_SITES) == "cuda"
TRANSFER_NEGF_MEM_MB = resources.negf_job_mb(TRANSFER_SITES, _frames(TRANSFER))
TRANSFER_ML_MEM_MB = resources.ml_job_mb(
    TRANSFER_SITES,
    _frames(TRANSFER),
    config["model"]["channels"] * len(MEMBERS),
    lattice_fields=6,
)
# NEGF jobs ask for the time their steady states take on one CPU core.
NEGF_RUNTIME_MIN = {
    "training": resources.negf_runtime_min(N_SITES, TRAIN["n_steps"]),
    "validation": resources.negf_runtime_min(N_SITES, VALID["n_steps"]),
    "transfer": resources.negf_runtime_min(TRANSFER_SITES, TRANSFER["n_steps"]),
}
# The large run records q and, for a committee, the per-site force deviation.
LARGE_MEM_MB = resources.ml_job_mb(
    LARGE["Lx"] * LARGE["Ly"],
    _frames(LARGE),
    config["model"]["channels"] * len(MEMBERS),
    lattice_fields=2 if len(MEMBERS) > 1 else 1,
)
resources.check_memory(
    f"an NEGF job on the {LATTICE['Lx']} x {LATTICE['Ly']} lattice",
    max(NEGF_MEM_MB.values()),
    _memory_limit_mb(),
    "lattice.Lx and lattice.Ly",
)
if TRANSFER["enabled"]:
    resources.check_memory(
        f"an NEGF job on the {TRANSFER['Lx']} x {TRANSFER['Ly']} transfer lattice",
        TRANSFER_NEGF_MEM_MB,
        _memory_limit_mb(),
        "transfer.Lx and transfer.Ly",
    )


# NEGF on the GPU: every steady state's matrices must fit in the smallest GPU here (a
# cluster's GPUs are not visible from its submit host).
def check_gpu_memory():
    from holstein.device import gpu_memory_mb

    for sites, label, key, on_gpu in (
        (N_SITES, "lattice", "lattice.Lx and lattice.Ly", NEGF_ON_GPU),
        (
            TRANSFER_SITES,
            "transfer lattice",
            "transfer.Lx and transfer.Ly",
            TRANSFER_NEGF_ON_GPU and TRANSFER["enabled"],
        ),
    ):
        if on_gpu:
            resources.check_memory(
                f"an NEGF steady state on the {label} ({sites} sites)",
                resources.negf_gpu_mb(sites),
                gpu_memory_mb(),
                key,
                gpu=True,
            )


if LARGE["enabled"]:
    resources.check_memory(
        f"the {LARGE['Lx']} x {LARGE['Ly']} large-lattice run",
        LARGE_MEM_MB,
        _memory_limit_mb(),
        "large_lattice.Lx, large_lattice.Ly or large_lattice.n_steps / stride",
    )


def remove_orphaned_checkpoints(results="results"):
    """Drop run and training checkpoints whose result exists: the run they would resume
    has finished (a checkpoint left by a killed job whose config was then reverted)."""
    for marker in (".checkpoint.", ".training-state."):
        for ckpt in Path(results).rglob(f"*{marker}*"):
            product = Path(str(ckpt).split(marker)[0])
            if product.exists():
                ckpt.unlink()
                print(f"removed {ckpt}: {product} is complete", file=sys.stderr)


# The inputs and outputs of a validation (rules reference_errors and validate, reused for
# the transfer lattice): ``stage`` is the prefix of its files under results/ ("" for the
# training-size validation, "transfer/" for the transfer one).
def validation_labels(lattice, biases, seeds):
    """Report labels of a result that summarises every run of a validation."""
    return {
        "provider": "NEGF and ML",
        "lattice": "{Lx} x {Ly}".format(**lattice),
        "bias": ", ".join(biases),
        "seed": f"mean ± std over {len(seeds)} seeds",
    }


def reference_inputs(stage, biases, seeds):
    """Inputs of reference_errors: the committee, its training data, the NEGF runs."""
    return {
        "model": COMMITTEE_CHECKPOINTS,
        "shards": [*TRAINING_SHARDS, *label_shards(AL["iterations"])],
        "negf_runs": expand(
            f"results/{stage}runs/negf/V{{bias}}_s{{seed}}.parquet",
            bias=biases,
            seed=seeds,
        ),
        "negf_summaries": expand(
            f"results/{stage}analysis/negf/V{{bias}}_s{{seed}}.json",
            bias=biases,
            seed=seeds,
        ),
    }


def validation_inputs(stage, biases, seeds):
    """Inputs of validate: every run's analysis and benchmark, the model's numbers."""
    runs = {"provider": ["ml", "negf"], "bias": biases, "seed": seeds}
    return {
        # the time-step check runs on the training-size validation only
        "time_step_summaries": (
            expand(
                "results/time_step/analysis/{resolution}/V{bias}_s{seed}.json",
                resolution=TIME_STEP_RESOLUTIONS,
                bias=TIME_STEP_BIASES,
                seed=seeds,
            )
            if stage == ""
            else []
        ),
        "summaries": expand(
            f"results/{stage}analysis/{{provider}}/V{{bias}}_s{{seed}}.json", **runs
        ),
        "series": expand(
            f"results/{stage}analysis/{{provider}}/V{{bias}}_s{{seed}}.csv", **runs
        ),
        "benchmarks": expand(
            f"results/benchmarks/{stage}runs/{{provider}}/V{{bias}}_s{{seed}}.tsv",
            **runs,
        ),
        "run_costs": expand(
            f"results/cost/{stage}runs/{{provider}}/V{{bias}}_s{{seed}}.json", **runs
        ),
        "model_metrics": COMMITTEE_METRICS,
        "reference_errors": f"results/{stage}validation/reference_errors.json",
    }


# Report output -> (file name, caption, label): the validation's under results/, the
# cost's (what the machine measured, which a re-run does not reproduce) under
# results/cost/.
VALIDATION_COST = {
    "cost": ("cost.png", "cost", "cost per step"),
    "cost_tables": ("cost.html", "cost_tables", "table of the cost"),
}
VALIDATION_FIGURES = {
    "tables": ("metrics.html", "metrics", "tables of every number"),
    "velocity": ("wall_velocity.png", "wall_velocity", "wall velocity against bias"),
    "decay": ("order_decay.png", "order_decay", "order parameter against time"),
    "kymographs": ("kymographs.png", "kymographs", "kymographs, seed average"),
    "current": ("current.png", "current", "device current against time"),
    "iv_curve": ("iv_curve.png", "iv_curve", "I-V curve"),
    "paired": (
        "paired_differences.png",
        "paired_differences",
        "paired ML - NEGF differences",
    ),
    "committee": (
        "committee_deviation.png",
        "committee_deviation",
        "committee deviation against error",
    ),
}


def validation_outputs(stage, category, labels, runs_category):
    """Outputs of validate: metrics.json, the figures and one figure per run, in the
    report under ``category`` (the runs' under ``runs_category``)."""
    folder = f"results/{stage}validation"
    cost_folder = f"results/cost/{stage}validation"
    figures = {
        name: report(
            f"{where}/{file}",
            caption=f"../report/{caption}.rst",
            category=category,
            labels=labels | {"figure": label},
        )
        for where, outputs in (
            (folder, VALIDATION_FIGURES),
            (cost_folder, VALIDATION_COST),
        )
        for name, (file, caption, label) in outputs.items()
    }
    runs = report(
        directory(f"{folder}/runs"),
        patterns=["{provider}_V{bias}_s{seed}.png"],
        caption="../report/run.rst",
        category=runs_category,
        labels={
            "provider": "{provider}",
            "lattice": labels["lattice"],
            "bias": "{bias}",
            "seed": "{seed}",
        },
    )
    return {
        "metrics": f"{folder}/metrics.json",
        "cost_metrics": f"{cost_folder}/cost.json",
        **figures,
        "runs": runs,
    }
