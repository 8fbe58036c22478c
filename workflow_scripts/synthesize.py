from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.datasets.synthetic import write_synthetic

write_synthetic(snakemake.params.fmt, snakemake.output[0], **snakemake.params.synthetic)
