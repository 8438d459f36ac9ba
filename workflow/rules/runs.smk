# Validation runs: ML Brownian runs (trained model only) and independent NEGF reference
# runs, one job per (provider, bias, seed), at the validation biases and seeds.


def model_for(wildcards):
    return "results/model/mlff.pt" if wildcards.provider == "ml" else []


rule brownian_run:
    input:
        model=model_for,
    output:
        "results/runs/{provider}/V{bias}_s{seed}.parquet",
    params:
        provider=lambda wc: wc.provider,
        lattice=config["lattice"],
        physics=config["physics"],
        dynamics=config["dynamics"],
        method=config["negf"]["method"],
        bias=lambda wc: VALID_BIASES[wc.bias],
        n_steps=VALID["n_steps"],
        stride=VALID["stride"],
        code=PHYSICS_CODE,
    log:
        "logs/runs/{provider}/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/runs/{provider}/V{bias}_s{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/holstein.yaml"
    script:
        "../scripts/simulate.py"


rule analyse_run:
    input:
        "results/runs/{provider}/V{bias}_s{seed}.parquet",
    output:
        series="results/analysis/{provider}/V{bias}_s{seed}.csv",
        summary="results/analysis/{provider}/V{bias}_s{seed}.json",
    params:
        code=ANALYSIS_CODE,
    log:
        "logs/analysis/{provider}/V{bias}_s{seed}.log",
    conda:
        "../../envs/holstein.yaml"
    script:
        "../scripts/analyse.py"
