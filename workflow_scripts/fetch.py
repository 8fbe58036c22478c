from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.fetching.fetch import fetch
from lesionmtl.io import save_json

save_json(snakemake.output[0], fetch(snakemake.params.dataset.raw, snakemake.wildcards.file))
