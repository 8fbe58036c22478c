from lesionmtl.logs import log_to

log_to(snakemake.log[0])

import pandas as pd

from lesionmtl.clustering import cluster_lesions
from lesionmtl.io import save_parquet

params = snakemake.params
assignments, centres = cluster_lesions(
    pd.read_parquet(snakemake.input.lesions), params.k, features=params.features, fit_on=params.fit_on
)
save_parquet(snakemake.output.clusters, assignments)
save_parquet(snakemake.output.centres, centres)
