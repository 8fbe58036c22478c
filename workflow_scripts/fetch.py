from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.fetching.fetch import fetch
from lesionmtl.io import save_json

dataset = snakemake.config["datasets"][snakemake.params.dataset]
save_json(snakemake.output[0], fetch(dataset, snakemake.wildcards.file))
