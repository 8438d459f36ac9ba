# Training of the committee of ML force fields, one job per member, and its figures.

# Report labels of a figure of a trained member.
MODEL_LABELS = {
    "provider": "ML against NEGF",
    "bias": ", ".join(TRAIN_BIASES),
    "seed": "training seeds " + ", ".join(map(str, TRAIN["seeds"])),
}


wildcard_constraints:
    member=r"\d+",


rule train_member:
    input:
        shards=TRAINING_SHARDS,
    output:
        checkpoint="results/model/member_{member}/mlff.pt",
        metrics="results/model/member_{member}/metrics.json",
        parity="results/model/member_{member}/parity.parquet",
        cost="results/cost/model/member_{member}.json",
    log:
        "logs/train_member/member_{member}.log",
    benchmark:
        "results/benchmarks/train_member/member_{member}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus(),
    params:
        hyper=lambda wc: member_section(config["model"], int(wc.member)),
        physics=config["physics"],
        device=device_of(),
        code=CODE["train"],
    script:
        "../scripts/train.py"


# On the CPU: figures of the parity table and the loss history, no model evaluation
# worth a GPU.
rule model_figures:
    input:
        metrics="results/model/member_{member}/metrics.json",
        parity="results/model/member_{member}/parity.parquet",
    output:
        parity=report(
            "results/model/member_{member}/parity.png",
            caption="../report/parity.rst",
            category="Model",
            labels=MODEL_LABELS | {"member": "{member}", "figure": "force parity"},
        ),
        loss=report(
            "results/model/member_{member}/loss.png",
            caption="../report/loss.rst",
            category="Model",
            labels=MODEL_LABELS
            | {"member": "{member}", "figure": "loss against epoch"},
        ),
    log:
        "logs/model_figures/member_{member}.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        lattice=config["lattice"],
        physics=config["physics"],
        code=CODE["model_figures"],
    script:
        "../scripts/model_figures.py"
