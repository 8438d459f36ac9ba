# Dataset assembly and training of the local ML force field, and its figures.

# Report labels of a figure of the trained model.
MODEL_LABELS = {
    "provider": "ML against NEGF",
    "bias": ", ".join(TRAIN_BIASES),
    "seed": "training seeds " + ", ".join(map(str, TRAIN["seeds"])),
}


rule train_model:
    input:
        TRAINING_SHARDS,
    output:
        checkpoint="results/model/mlff.pt",
        metrics="results/model/metrics.json",
        parity="results/model/parity.parquet",
    log:
        "logs/train_model.log",
    benchmark:
        "results/benchmarks/train_model.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus(),
    params:
        hyper=config["model"],
        physics=config["physics"],
        device=DEVICE,
        code=TRAIN_CODE,
    script:
        "../scripts/train.py"


rule model_figures:
    input:
        metrics=rules.train_model.output.metrics,
        parity=rules.train_model.output.parity,
    output:
        parity=report(
            "results/model/parity.png",
            caption="../report/parity.rst",
            category="Model",
            labels=MODEL_LABELS | {"figure": "force parity"},
        ),
        loss=report(
            "results/model/loss.png",
            caption="../report/loss.rst",
            category="Model",
            labels=MODEL_LABELS | {"figure": "loss against epoch"},
        ),
    log:
        "logs/model_figures.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        lattice=config["lattice"],
        physics=config["physics"],
        code=MODEL_FIGURES_CODE,
    script:
        "../scripts/model_figures.py"
