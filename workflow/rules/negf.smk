# NEGF training data: Brownian dynamics with exact NEGF forces, one job per (bias, seed).


wildcard_constraints:
    bias=r"-?[0-9.]+(e-?[0-9]+)?",
    seed=r"\d+",
    provider="negf|ml",


rule negf_training_shard:
    input:
        initial=start_input(config["lattice"]),
    output:
        trajectory="results/negf_training/V{bias}_s{seed}.parquet",
        cost="results/cost/negf_training/V{bias}_s{seed}.json",
    log:
        "logs/negf_training/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/negf_training/V{bias}_s{seed}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=NEGF_MEM_MB["training"],
        runtime=NEGF_RUNTIME_MIN["training"],
        gpu=gpus(NEGF_ON_GPU),
    params:
        lattice=config["lattice"],
        physics=config["physics"],
        dynamics=config["dynamics"],
        method=config["negf"]["method"],
        device=device_of(NEGF_ON_GPU),
        bias=lambda wc: TRAIN_BIASES[wc.bias],
        seed=lambda wc: int(wc.seed),
        n_steps=TRAIN["n_steps"],
        stride=TRAIN["stride"],
        code=CODE["simulate_negf"],
    script:
        "../scripts/simulate_negf.py"
