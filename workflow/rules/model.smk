# Dataset assembly and training of the local ML force field.


rule train_model:
    input:
        TRAINING_SHARDS,
    output:
        checkpoint="results/model/mlff.pt",
        metrics="results/model/metrics.json",
        parity=report(
            "results/model/parity.png",
            caption="../report/parity.rst",
            category="Model",
        ),
        loss=report(
            "results/model/loss.png",
            caption="../report/loss.rst",
            category="Model",
        ),
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
