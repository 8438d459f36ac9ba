# Validation runs: ML Brownian runs (the trained committee only) and independent NEGF
# reference runs, one job per (provider, bias, seed), at the validation biases and seeds.


rule brownian_run:
    input:
        model=lambda wc: COMMITTEE_CHECKPOINTS if wc.provider == "ml" else [],
        initial=start_input(config["lattice"]),
    output:
        trajectory="results/runs/{provider}/V{bias}_s{seed}.parquet",
        cost="results/cost/runs/{provider}/V{bias}_s{seed}.json",
    log:
        "logs/runs/{provider}/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/runs/{provider}/V{bias}_s{seed}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: (
            NEGF_MEM_MB["validation"] if wc.provider == "negf" else ML_MEM_MB
        ),
        runtime=lambda wc: (
            NEGF_RUNTIME_MIN["validation"] if wc.provider == "negf" else 120
        ),
        gpu=gpus(run_uses_gpu(NEGF_ON_GPU)),
    params:
        provider=lambda wc: wc.provider,
        lattice=config["lattice"],
        physics=config["physics"],
        dynamics=config["dynamics"],
        method=lambda wc: config["negf"]["method"] if wc.provider == "negf" else None,
        device=device_of(run_uses_gpu(NEGF_ON_GPU)),
        bias=lambda wc: VALID_BIASES[wc.bias],
        seed=lambda wc: int(wc.seed),
        n_steps=VALID["n_steps"],
        stride=VALID["stride"],
        predictor=lambda wc: PREDICTOR if wc.provider == "ml" else "",
        code=lambda wc: CODE[f"simulate_{wc.provider}"],
    script:
        "../scripts/simulate_{params.provider}.py"


rule analyse_run:
    input:
        "results/runs/{provider}/V{bias}_s{seed}.parquet",
    output:
        series="results/analysis/{provider}/V{bias}_s{seed}.csv",
        summary="results/analysis/{provider}/V{bias}_s{seed}.json",
    log:
        "logs/analysis/{provider}/V{bias}_s{seed}.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        code=CODE["analyse"],
    script:
        "../scripts/analyse.py"


# The NEGF reference's own time-step error (config validation.time_step_check): at each
# checked bias and validation seed, a "coarse" run at dt whose noise sums two draws per
# step and a "fine" run at dt / 2 on the same Brownian path; validate shows their paired
# difference beside ML - NEGF.
use rule brownian_run as time_step_run with:
    input:
        model=[],
        initial=start_input(config["lattice"]),
    output:
        trajectory="results/time_step/{resolution}/V{bias}_s{seed}.parquet",
        cost="results/cost/time_step/{resolution}/V{bias}_s{seed}.json",
    log:
        "logs/time_step/{resolution}/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/time_step/{resolution}/V{bias}_s{seed}.tsv"
    wildcard_constraints:
        resolution="coarse|fine",
    resources:
        mem_mb=NEGF_MEM_MB["validation"],
        runtime=lambda wc: NEGF_RUNTIME_MIN["validation"]
        * TIME_STEP_RESOLUTIONS[wc.resolution][0],
        gpu=gpus(NEGF_ON_GPU),
    params:
        provider="negf",
        method=config["negf"]["method"],
        device=device_of(NEGF_ON_GPU),
        dynamics=lambda wc: time_step_dynamics(wc.resolution),
        bias=lambda wc: TIME_STEP_BIASES[wc.bias],
        n_steps=lambda wc: VALID["n_steps"] * TIME_STEP_RESOLUTIONS[wc.resolution][0],
        stride=lambda wc: VALID["stride"] * TIME_STEP_RESOLUTIONS[wc.resolution][0],
        predictor="",
        code=CODE["simulate_negf"],


use rule analyse_run as analyse_time_step_run with:
    input:
        "results/time_step/{resolution}/V{bias}_s{seed}.parquet",
    output:
        series="results/time_step/analysis/{resolution}/V{bias}_s{seed}.csv",
        summary="results/time_step/analysis/{resolution}/V{bias}_s{seed}.json",
    log:
        "logs/time_step/analysis/{resolution}/V{bias}_s{seed}.log",
