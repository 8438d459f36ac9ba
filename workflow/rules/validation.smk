# Validation of the ML force field against NEGF: the model's errors on the NEGF reference
# runs (the one step that loads the model), then figures and numbers from the analyses.
# The same rules validate the transfer lattice (transfer.smk): ``stage`` is the prefix of
# a validation's files under results/ and logs/ ("" here, "transfer/" there).


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
        "summaries": expand(
            f"results/{stage}analysis/{{provider}}/V{{bias}}_s{{seed}}.json", **runs
        ),
        "series": expand(
            f"results/{stage}analysis/{{provider}}/V{{bias}}_s{{seed}}.csv", **runs
        ),
        "benchmarks": expand(
            f"results/benchmarks/{stage}runs/{{provider}}/V{{bias}}_s{{seed}}.tsv", **runs
        ),
        "model_metrics": COMMITTEE_METRICS,
        "reference_errors": f"results/{stage}validation/reference_errors.json",
    }


# Figure output -> (file name, caption, label).
VALIDATION_FIGURES = {
    "tables": ("metrics.html", "metrics", "tables of every number"),
    "velocity": ("wall_velocity.png", "wall_velocity", "wall velocity against bias"),
    "decay": ("order_decay.png", "order_decay", "order parameter against time"),
    "kymographs": ("kymographs.png", "kymographs", "kymographs, seed average"),
    "current": ("current.png", "current", "device current against time"),
    "iv_curve": ("iv_curve.png", "iv_curve", "I-V curve"),
    "cost": ("cost.png", "cost", "cost per step"),
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
    figures = {
        name: report(
            f"{folder}/{file}",
            caption=f"../report/{caption}.rst",
            category=category,
            labels=labels | {"figure": label},
        )
        for name, (file, caption, label) in VALIDATION_FIGURES.items()
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
    return {"metrics": f"{folder}/metrics.json", **figures, "runs": runs}


rule reference_errors:
    input:
        **reference_inputs("", VALID_BIASES, VALID["seeds"]),
    output:
        "results/validation/reference_errors.json",
    log:
        "logs/reference_errors.log",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=ML_MEM_MB,
    params:
        hyper=config["model"],
        predictor=PREDICTOR,
        code=REFERENCE_ERRORS_CODE,
    script:
        "../scripts/reference_errors.py"


rule validate:
    input:
        **validation_inputs("", VALID_BIASES, VALID["seeds"]),
    output:
        **validation_outputs(
            "",
            "Validation",
            validation_labels(config["lattice"], VALID_BIASES, VALID["seeds"]),
            "Runs",
        ),
    log:
        "logs/validate.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        n_steps=VALID["n_steps"],
        training_biases=TRAIN["biases"],
        lattice=config["lattice"],
        physics=config["physics"],
        dynamics=config["dynamics"],
        trust_lo=config["active_learning"]["trust_lo"],
        trust_hi=config["active_learning"]["trust_hi"],
        # for the captions of the report
        biases=VALID["biases"],
        seeds=VALID["seeds"],
        code=VALIDATION_CODE,
    script:
        "../scripts/validate.py"
