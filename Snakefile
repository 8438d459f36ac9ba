# Entry point for a clone: `snakemake --cores N` from this directory runs the workflow in
# workflow/Snakefile on config/config.yaml (config.yaml here is the same file).


include: "workflow/Snakefile"


# An included file cannot set the default target (Snakemake restores it after an
# include): this one asks for everything the workflow's "all" asks for.
rule default:
    default_target: True
    input:
        rules.all.input,
    localrule: True
