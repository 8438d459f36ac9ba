# Validation figures and numbers: ML against NEGF at the validation biases.


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
        model_metrics="results/model/metrics.json",
        model=MODEL_CHECKPOINT,
        negf_runs=expand(
            "results/runs/negf/V{bias}_s{seed}.parquet",
            bias=VALID_BIASES,
            seed=VALID["seeds"],
        ),
    output:
        metrics="results/validation/metrics.json",
        velocity=report(
            "results/validation/wall_velocity.png",
            caption="../report/wall_velocity.rst",
            category="Validation",
        ),
        decay=report(
            "results/validation/order_decay.png",
            caption="../report/order_decay.rst",
            category="Validation",
        ),
        kymographs=report(
            "results/validation/kymographs.png",
            caption="../report/kymographs.rst",
            category="Validation",
        ),
        current=report(
            "results/validation/current.png",
            caption="../report/current.rst",
            category="Validation",
        ),
        iv_curve=report(
            "results/validation/iv_curve.png",
            caption="../report/iv_curve.rst",
            category="Validation",
        ),
        cost=report(
            "results/validation/cost.png",
            caption="../report/cost.rst",
            category="Validation",
        ),
    log:
        "logs/validate.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        n_steps=VALID["n_steps"],
        training_biases=TRAIN["biases"],
        code=VALIDATION_CODE,
    script:
        "../scripts/validate.py"
