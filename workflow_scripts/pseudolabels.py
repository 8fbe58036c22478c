from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.pseudolabels import merge_shards

merge_shards(
    snakemake.input.masks,
    snakemake.input.facts,
    snakemake.output.ellipse,
    snakemake.output.grabcut,
    snakemake.output.facts,
)
