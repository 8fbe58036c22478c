from lesionmtl.logs import log_to

log_to(snakemake.log[0])

import numpy as np
import pandas as pd
import torch

from lesionmtl.evaluation import evaluate_run
from lesionmtl.io import save_npy, save_parquet

torch.set_num_threads(snakemake.threads)
inputs = snakemake.input
clusters = pd.read_parquet(inputs.clusters) if "clusters" in inputs.keys() else None
metrics, predictions = evaluate_run(
    inputs.model, pd.read_parquet(inputs.lesions), np.load(inputs.images), np.load(inputs.truth) != 0, clusters
)
save_parquet(snakemake.output.metrics, metrics)
save_npy(snakemake.output.predictions, predictions)
