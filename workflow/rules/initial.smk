# The relaxed start: the V = 0 equilibrium of the lattice under the exact NEGF force, once
# per lattice and physics (used by the Brownian runs when dynamics.initial is relaxed).


# On the CPU: one job per lattice and physics, whose gradient flow and Newton steps use
# the NEGF force on the host (minutes at 40 x 30), so no GPU is held for it.
rule relax_initial_state:
    output:
        "results/initial/relaxed_{Lx}x{Ly}.npz",
    log:
        "logs/initial/relaxed_{Lx}x{Ly}.log",
    benchmark:
        "results/benchmarks/initial/relaxed_{Lx}x{Ly}.tsv"
    wildcard_constraints:
        Lx=r"\d+",
        Ly=r"\d+",
    conda:
        "../../envs/holstein.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc: resources.negf_job_mb(int(wc.Lx) * int(wc.Ly), 1),
        runtime=120,
    params:
        lattice=lambda wc: {"Lx": int(wc.Lx), "Ly": int(wc.Ly)},
        physics=config["physics"],
        method=config["negf"]["method"],
        code=CODE["relax"],
    script:
        "../scripts/relax.py"
