# Transfer validation: NEGF reference runs and ML runs on a longer lattice than the
# training one (config transfer), analysed and validated by the same rules as the
# training-size validation, with every file under results/transfer/.  Wall velocities
# depend on the sample length: here they are compared between the providers on the
# transfer lattice only.


use rule brownian_run as transfer_run with:
    input:
        model=lambda wc: COMMITTEE_CHECKPOINTS if wc.provider == "ml" else [],
        initial=start_input(TRANSFER_LATTICE),
    output:
        trajectory="results/transfer/runs/{provider}/V{bias}_s{seed}.parquet",
        cost="results/cost/transfer/runs/{provider}/V{bias}_s{seed}.json",
    log:
        "logs/transfer/runs/{provider}/V{bias}_s{seed}.log",
    benchmark:
        "results/benchmarks/transfer/runs/{provider}/V{bias}_s{seed}.tsv"
    resources:
        mem_mb=lambda wc: (
            TRANSFER_NEGF_MEM_MB if wc.provider == "negf" else TRANSFER_ML_MEM_MB
        ),
        runtime=lambda wc: (
            NEGF_RUNTIME_MIN["transfer"] if wc.provider == "negf" else 120
        ),
        gpu=gpus(run_uses_gpu(TRANSFER_NEGF_ON_GPU)),
    params:
        device=device_of(run_uses_gpu(TRANSFER_NEGF_ON_GPU)),
        lattice=TRANSFER_LATTICE,
        bias=lambda wc: TRANSFER_BIASES[wc.bias],
        n_steps=TRANSFER["n_steps"],
        stride=TRANSFER["stride"],


use rule analyse_run as analyse_transfer_run with:
    input:
        "results/transfer/runs/{provider}/V{bias}_s{seed}.parquet",
    output:
        series="results/transfer/analysis/{provider}/V{bias}_s{seed}.csv",
        summary="results/transfer/analysis/{provider}/V{bias}_s{seed}.json",
    log:
        "logs/transfer/analysis/{provider}/V{bias}_s{seed}.log",


use rule reference_errors as reference_errors_transfer with:
    input:
        **reference_inputs("transfer/", TRANSFER_BIASES, TRANSFER["seeds"]),
        # the expected force error is calibrated on the training lattice
        calibration=COMMITTEE_FILE,
    output:
        "results/transfer/validation/reference_errors.json",
    log:
        "logs/transfer/reference_errors.log",
    resources:
        mem_mb=TRANSFER_ML_MEM_MB,


use rule validate as validate_transfer with:
    input:
        **validation_inputs("transfer/", TRANSFER_BIASES, TRANSFER["seeds"]),
    output:
        **validation_outputs(
            "transfer/",
            "Transfer",
            validation_labels(TRANSFER_LATTICE, TRANSFER_BIASES, TRANSFER["seeds"]),
            "Transfer runs",
        ),
    log:
        "logs/transfer/validate.log",
    params:
        n_steps=TRANSFER["n_steps"],
        lattice=TRANSFER_LATTICE,
        biases=TRANSFER["biases"],
        seeds=TRANSFER["seeds"],
