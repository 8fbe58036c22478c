from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.pseudolabels import pseudolabel_shard

pseudolabel_shard(
    snakemake.input.lesions,
    snakemake.input.images,
    snakemake.input.gt_masks,
    snakemake.output.masks,
    snakemake.output.facts,
    shard=snakemake.params.shard,
    n_shards=snakemake.params.n_shards,
    iterations=snakemake.params.iterations,
    ellipse_drawing=snakemake.params.ellipse,
    grabcut=snakemake.params.grabcut,
)
