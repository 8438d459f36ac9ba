# Active learning with the committee (DP-GEN's loop), iteration by iteration: explore with
# ML dynamics, select frames by their committee deviation, label them with single NEGF
# solves, retrain every member (holstein.ml.active_learning).  Iteration 0 is the pipeline's
# committee; each iteration's files are its own, so a finished iteration never re-runs.


wildcard_constraints:
    iteration=r"\d+",
    shard=r"\d+",
    Lx=r"\d+",
    Ly=r"\d+",


rule al_explore:
    input:
        model=lambda wc: committee_checkpoints(int(wc.iteration) - 1),
        initial=lambda wc: start_input({"Lx": int(wc.Lx), "Ly": int(wc.Ly)}),
    output:
        trajectory="results/active_learning/iter_{iteration}/explore/{Lx}x{Ly}_V{bias}_s{seed}.parquet",
        cost="results/cost/active_learning/iter_{iteration}/explore/{Lx}x{Ly}_V{bias}_s{seed}.json",
    log:
        "logs/active_learning/explore/iter_{iteration}/{Lx}x{Ly}_V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/active_learning/iter_{iteration}/explore/{Lx}x{Ly}_V{bias}_s{seed}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=ML_MEM_MB,
        runtime=120,
        gpu=gpus(),
    params:
        lattice=lambda wc: {"Lx": int(wc.Lx), "Ly": int(wc.Ly)},
        physics=config["physics"],
        dynamics=config["dynamics"],
        device=device_of(),
        bias=lambda wc: AL_BIASES[wc.bias],
        seed=lambda wc: int(wc.seed),
        n_steps=AL["explore"]["n_steps"],
        stride=AL["explore"]["stride"],
        record=list(DEVIATION_SUMMARIES),
        predictor=PREDICTOR,
        code=CODE["simulate_ml"],
    script:
        "../scripts/simulate_ml.py"


rule al_select:
    input:
        exploration_runs,
    output:
        selected="results/active_learning/iter_{iteration}/selected.parquet",
        stats="results/active_learning/iter_{iteration}/selection.json",
    log:
        "logs/active_learning/select/iter_{iteration}.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        trust_statistic=AL["trust_statistic"],
        trust_lo=AL["trust_lo"],
        trust_hi=AL["trust_hi"],
        frames=AL["frames_per_iteration"],
        selection=AL["selection"],
        seed=lambda wc: int(wc.iteration),
        code=CODE["al_select"],
    script:
        "../scripts/al_select.py"


rule al_label:
    input:
        "results/active_learning/iter_{iteration}/selected.parquet",
    output:
        "results/active_learning/iter_{iteration}/labels/al{iteration}_labels_{shard}.parquet",
    log:
        "logs/active_learning/label/iter_{iteration}_{shard}.log",
    benchmark:
        "results/benchmarks/active_learning/iter_{iteration}/label_{shard}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=NEGF_MEM_MB["training"],
        runtime=60,
        gpu=gpus(NEGF_ON_GPU),
    params:
        shard=lambda wc: int(wc.shard),
        n_shards=AL_LABEL_JOBS,
        physics=config["physics"],
        method=config["negf"]["method"],
        device=device_of(NEGF_ON_GPU),
        code=CODE["al_label"],
    script:
        "../scripts/al_label.py"


rule al_train_member:
    input:
        shards=lambda wc: [*TRAINING_SHARDS, *label_shards(int(wc.iteration))],
        init=al_initial_member,
    output:
        checkpoint="results/active_learning/iter_{iteration}/model/member_{member}/mlff.pt",
        metrics="results/active_learning/iter_{iteration}/model/member_{member}/metrics.json",
        parity="results/active_learning/iter_{iteration}/model/member_{member}/parity.parquet",
        cost="results/cost/active_learning/iter_{iteration}/model/member_{member}.json",
    log:
        "logs/active_learning/train_member/iter_{iteration}_member_{member}.log",
    benchmark:
        "results/benchmarks/active_learning/iter_{iteration}/train_member_{member}.tsv"
    conda:
        "../../envs/holstein.yaml"
    threads: TRAIN_THREADS
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus(),
    params:
        hyper=al_member_section,
        physics=config["physics"],
        device=device_of(),
        code=CODE["train"],
    script:
        "../scripts/train.py"


# On the CPU: the iteration's committee on the held-out NEGF frames, batched, seconds.
rule al_metrics:
    input:
        model=lambda wc: committee_checkpoints(int(wc.iteration)),
        shards=TRAINING_SHARDS,
        labels=lambda wc: label_shards(int(wc.iteration)),
        new_labels=lambda wc: label_shards(int(wc.iteration), only=True),
        selection=selection_stats,
        negf_runs=REFERENCE_RUNS,
    output:
        "results/active_learning/iter_{iteration}/metrics.json",
    log:
        "logs/active_learning/metrics/iter_{iteration}.log",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=ML_MEM_MB,
    params:
        iteration=lambda wc: int(wc.iteration),
        predictor=PREDICTOR,
        trust_statistic=AL["trust_statistic"],
        code=CODE["al_metrics"],
    script:
        "../scripts/al_metrics.py"


rule al_report:
    input:
        expand(
            "results/active_learning/iter_{iteration}/metrics.json",
            iteration=range(AL["iterations"] + 1),
        ),
    output:
        summary="results/active_learning/summary.json",
        figure=report(
            "results/active_learning/active_learning.png",
            caption="../report/active_learning.rst",
            category="Active learning",
            labels={"figure": "labels, exploration and error per iteration"},
        ),
    log:
        "logs/active_learning/report.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        code=CODE["al_report"],
    script:
        "../scripts/al_report.py"
