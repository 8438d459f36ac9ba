# Dataset assembly and training of the local ML force field.


rule train_model:
    input:
        expand(
            "results/negf_training/V{bias}_s{seed}.parquet",
            bias=TRAIN_BIASES,
            seed=TRAIN["seeds"],
        ),
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
    params:
        hyper=config["model"],
        physics=config["physics"],
        code=MODEL_CODE,
    log:
        "logs/train_model.log",
    benchmark:
        "results/benchmarks/train_model.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        "../../envs/holstein.yaml"
    script:
        "../scripts/train.py"
