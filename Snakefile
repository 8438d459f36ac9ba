# Holstein CDW insulator between electrodes: NEGF training data -> ML force field ->
# ML and NEGF Brownian runs -> validation figures.  See README.md.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml", set_default=True)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/negf.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/large_lattice.smk"


rule all:
    input:
        TRAINING_SHARDS,
        rules.train_model.output,
        rules.model_figures.output,
        RUNS,
        rules.validate.input.summaries,
        rules.validate.output,
        rules.large_lattice_report.input if LARGE["enabled"] else [],
        rules.large_lattice_report.output if LARGE["enabled"] else [],


onsuccess:
    remove_orphaned_checkpoints()
