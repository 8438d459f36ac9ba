# The locality floor: per NEGF trajectory, a splice estimate of the force error no model
# of the configured cutoff can beat (holstein.physics.locality; NEGF only, so a retrained model
# never recomputes it), then the committee's force error beside it on the same frames.


rule locality_floor:
    input:
        "results/{source}/V{bias}_s{seed}.parquet",
    output:
        "results/locality/{source}/V{bias}_s{seed}.json",
    log:
        "logs/locality/{source}/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/locality/{source}/V{bias}_s{seed}.tsv"
    wildcard_constraints:
        source="negf_training|transfer/runs/negf",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: (
            TRANSFER_NEGF_MEM_MB
            if wc.source.startswith("transfer")
            else NEGF_MEM_MB["training"]
        ),
        runtime=120,
        gpu=gpus(floor_uses_gpu),
    params:
        radius=config["model"]["cutoff"],
        samples=LOCALITY["samples"],
        skip_fraction=LOCALITY["skip_fraction"],
        min_separation=LOCALITY["min_separation"],
        seed=LOCALITY["seed"],
        method=config["negf"]["method"],
        device=device_of(floor_uses_gpu),
        code=CODE["locality_floor"],
    script:
        "../scripts/locality_floor.py"


# On the CPU: the committee on the floors' late frames, a few batched evaluations.
rule locality_metrics:
    input:
        model=COMMITTEE_CHECKPOINTS,
        shards=[*TRAINING_SHARDS, *label_shards(AL["iterations"])],
        training_floors=LOCALITY_FLOORS["training"],
        transfer_floors=LOCALITY_FLOORS["transfer"],
        # the trajectories the floors were estimated on (the shards are among the above)
        transfer_references=[
            f.replace("results/locality/", "results/").replace(".json", ".parquet")
            for f in LOCALITY_FLOORS["transfer"]
        ],
    output:
        "results/locality/metrics.json",
    log:
        "logs/locality/metrics.log",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=max(ML_MEM_MB, TRANSFER_ML_MEM_MB),
    params:
        hyper=COMMITTEE_MODEL,
        predictor=PREDICTOR,
        code=CODE["locality_metrics"],
    script:
        "../scripts/locality_metrics.py"
