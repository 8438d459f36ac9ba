# Validation of the ML force field against NEGF: the model's errors on the NEGF reference
# runs (the one step that loads the model), then figures and numbers from the analyses.

# Report labels of a result that summarises every validation run.
VALIDATION_LABELS = {
    "provider": "NEGF and ML",
    "bias": ", ".join(VALID_BIASES),
    "seed": f"mean ± std over {len(VALID['seeds'])} seeds",
}


rule reference_errors:
    input:
        model=COMMITTEE_CHECKPOINTS,
        shards=[*TRAINING_SHARDS, *label_shards(AL["iterations"])],
        negf_runs=REFERENCE_RUNS,
        negf_summaries=expand(
            "results/analysis/negf/V{bias}_s{seed}.json",
            bias=VALID_BIASES,
            seed=VALID["seeds"],
        ),
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
        summaries=expand(
            "results/analysis/{provider}/V{bias}_s{seed}.json",
            provider=["ml", "negf"],
            bias=VALID_BIASES,
            seed=VALID["seeds"],
        ),
        series=expand(
            "results/analysis/{provider}/V{bias}_s{seed}.csv",
            provider=["ml", "negf"],
            bias=VALID_BIASES,
            seed=VALID["seeds"],
        ),
        benchmarks=expand(
            "results/benchmarks/runs/{provider}/V{bias}_s{seed}.tsv",
            provider=["ml", "negf"],
            bias=VALID_BIASES,
            seed=VALID["seeds"],
        ),
        model_metrics=COMMITTEE_METRICS,
        reference_errors=rules.reference_errors.output[0],
    output:
        metrics="results/validation/metrics.json",
        tables=report(
            "results/validation/metrics.html",
            caption="../report/metrics.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "tables of every number"},
        ),
        velocity=report(
            "results/validation/wall_velocity.png",
            caption="../report/wall_velocity.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "wall velocity against bias"},
        ),
        decay=report(
            "results/validation/order_decay.png",
            caption="../report/order_decay.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "order parameter against time"},
        ),
        kymographs=report(
            "results/validation/kymographs.png",
            caption="../report/kymographs.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "kymographs, seed average"},
        ),
        current=report(
            "results/validation/current.png",
            caption="../report/current.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "device current against time"},
        ),
        iv_curve=report(
            "results/validation/iv_curve.png",
            caption="../report/iv_curve.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "I-V curve"},
        ),
        cost=report(
            "results/validation/cost.png",
            caption="../report/cost.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "cost per step"},
        ),
        committee=report(
            "results/validation/committee_deviation.png",
            caption="../report/committee_deviation.rst",
            category="Validation",
            labels=VALIDATION_LABELS | {"figure": "committee deviation against error"},
        ),
        runs=report(
            directory("results/validation/runs"),
            patterns=["{provider}_V{bias}_s{seed}.png"],
            caption="../report/run.rst",
            category="Runs",
            labels={"provider": "{provider}", "bias": "{bias}", "seed": "{seed}"},
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
        code=VALIDATION_CODE,
    script:
        "../scripts/validate.py"
