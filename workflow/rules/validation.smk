# Validation of the ML force field against NEGF: the model's errors on the NEGF reference
# runs (the one step that loads the model), then figures and numbers from the analyses.
# The same rules validate the transfer lattice (transfer.smk); their inputs and outputs
# come from the helpers in common.smk.


# On the CPU: the committee's force on the recorded NEGF frames, a few hundred batched
# evaluations, seconds next to the GPU start-up a job would pay.
rule reference_errors:
    input:
        **reference_inputs("", VALID_BIASES, VALID["seeds"]),
    output:
        "results/validation/reference_errors.json",
    log:
        "logs/reference_errors.log",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    resources:
        mem_mb=ML_MEM_MB,
    params:
        hyper=COMMITTEE_MODEL,
        predictor=PREDICTOR,
        trust_statistic=AL["trust_statistic"],
        code=CODE["reference_errors"],
    script:
        "../scripts/reference_errors.py"


# Seconds: the members' digests and the calibration reference_errors fitted, one file.
rule calibrate_committee:
    input:
        model=COMMITTEE_CHECKPOINTS,
        reference_errors="results/validation/reference_errors.json",
    output:
        COMMITTEE_FILE,
    log:
        "logs/calibrate_committee.log",
    conda:
        "../../envs/holstein.yaml"
    threads: 1
    params:
        predictor=PREDICTOR,
        trust_statistic=AL["trust_statistic"],
        code=CODE["calibrate_committee"],
    script:
        "../scripts/calibrate_committee.py"


rule validate:
    input:
        **validation_inputs("", VALID_BIASES, VALID["seeds"]),
    output:
        **validation_outputs(
            "",
            "Validation",
            validation_labels(config["lattice"], VALID_BIASES, VALID["seeds"]),
            "Runs",
        ),
    log:
        "logs/validate.log",
    conda:
        "../../envs/holstein.yaml"
    params:
        n_steps=VALID["n_steps"],
        training_biases=TRAIN["biases"],
        lattice=config["lattice"],
        physics=config["physics"],
        dynamics=config["dynamics"],
        margin=config["validation"]["margin"],
        trust_statistic=config["active_learning"]["trust_statistic"],
        trust_lo=config["active_learning"]["trust_lo"],
        trust_hi=config["active_learning"]["trust_hi"],
        # for the captions of the report
        biases=VALID["biases"],
        seeds=VALID["seeds"],
        code=CODE["validate"],
    script:
        "../scripts/validate.py"
