# lesionmtl: weakly supervised lesion segmentation with multi-task learning (Chu et al., MIDL 2021).
# `snakemake` runs the embedded synthetic default; `snakemake --configfile configs/paper.yaml` the paper.

from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default, unless a whole configuration is given with --configfile: Snakemake would
# otherwise merge the two, and the paper run would also train on the synthetic datasets.
if "datasets" not in config:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/fetch.smk"
include: "rules/data.smk"
include: "rules/pseudolabels.smk"
include: "rules/cluster.smk"
include: "rules/train.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        report_outputs(),
