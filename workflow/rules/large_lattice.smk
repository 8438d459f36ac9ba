# ML Brownian run on a lattice far larger than the training one (config large_lattice),
# its analysis, and the comparison with the validation runs at the same bias.

LARGE_LABELS = {
    "provider": "ML",
    "lattice": f"{LARGE['Lx']} x {LARGE['Ly']}",
    "bias": bias_label(LARGE["bias"]),
    "seed": str(LARGE["seed"]),
}


rule large_lattice_run:
    input:
        model=COMMITTEE_CHECKPOINTS,
        initial=start_input(LARGE),
    output:
        trajectory=f"results/large_lattice/ml_{LARGE_TAG}.parquet",
        cost=f"results/cost/large_lattice/ml_{LARGE_TAG}.json",
    log:
        f"logs/large_lattice/ml_{LARGE_TAG}.log",
    benchmark:
        f"results/benchmarks/large_lattice/ml_{LARGE_TAG}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: LARGE_THREADS
    resources:
        mem_mb=LARGE_MEM_MB,
        runtime=240,
        gpu=gpus(),
    params:
        lattice={"Lx": LARGE["Lx"], "Ly": LARGE["Ly"]},
        physics=config["physics"],
        dynamics={**config["dynamics"], "checkpoint_every": LARGE["checkpoint_every"]},
        device=device_of(),
        bias=LARGE["bias"],
        seed=LARGE["seed"],
        n_steps=LARGE["n_steps"],
        stride=LARGE["stride"],
        record=["current", *DEVIATION_FIELDS],
        predictor=PREDICTOR,
        code=CODE["simulate_ml"],
    script:
        "../scripts/simulate_ml.py"


rule analyse_large_lattice_run:
    input:
        f"results/large_lattice/ml_{LARGE_TAG}.parquet",
    output:
        series=f"results/large_lattice/ml_{LARGE_TAG}.csv",
        summary=f"results/large_lattice/ml_{LARGE_TAG}.json",
    log:
        f"logs/large_lattice/analyse_ml_{LARGE_TAG}.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        code=CODE["analyse"],
    script:
        "../scripts/analyse.py"


rule large_lattice_report:
    input:
        trajectory=f"results/large_lattice/ml_{LARGE_TAG}.parquet",
        series=f"results/large_lattice/ml_{LARGE_TAG}.csv",
        summary=f"results/large_lattice/ml_{LARGE_TAG}.json",
        cost=f"results/cost/large_lattice/ml_{LARGE_TAG}.json",
        benchmark=f"results/benchmarks/large_lattice/ml_{LARGE_TAG}.tsv",
        reference_summaries=expand(
            "results/analysis/{provider}/V{bias}_s{seed}.json",
            provider=["ml", "negf"],
            bias=bias_label(LARGE["bias"]),
            seed=VALID["seeds"],
        ),
        reference_series=expand(
            "results/analysis/{provider}/V{bias}_s{seed}.csv",
            provider=["ml", "negf"],
            bias=bias_label(LARGE["bias"]),
            seed=VALID["seeds"],
        ),
        # its calibration: the committee deviation as an expected force error
        committee=COMMITTEE_FILE,
        reference_costs=expand(
            "results/cost/runs/negf/V{bias}_s{seed}.json",
            bias=bias_label(LARGE["bias"]),
            seed=VALID["seeds"],
        ),
    output:
        metrics="results/large_lattice/metrics.json",
        cost_metrics="results/cost/large_lattice/cost.json",
        cost_tables=report(
            "results/cost/large_lattice/cost.html",
            caption="../report/large_lattice_cost.rst",
            category="Large lattice",
            labels=LARGE_LABELS | {"result": "table of the cost"},
        ),
        figure=report(
            "results/large_lattice/large_lattice.png",
            caption="../report/large_lattice.rst",
            category="Large lattice",
            labels=LARGE_LABELS | {"result": "figure"},
        ),
        deviation=report(
            "results/large_lattice/committee_deviation.png",
            caption="../report/large_lattice_deviation.rst",
            category="Large lattice",
            labels=LARGE_LABELS | {"result": "committee deviation"},
        ),
        tables=report(
            "results/large_lattice/large_lattice_metrics.html",
            caption="../report/large_lattice_metrics.rst",
            category="Large lattice",
            labels=LARGE_LABELS | {"result": "table of every number"},
        ),
    log:
        "logs/large_lattice/report.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        trust_statistic=config["active_learning"]["trust_statistic"],
        trust_lo=config["active_learning"]["trust_lo"],
        trust_hi=config["active_learning"]["trust_hi"],
        code=CODE["large_lattice"],
    script:
        "../scripts/large_lattice.py"
