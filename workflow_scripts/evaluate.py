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
lesions, images, truth = pd.read_parquet(inputs.lesions), np.load(inputs.images), np.load(inputs.truth) != 0
metrics, predictions = evaluate_run(
    inputs.model, lesions, images, truth, clusters, metric_protocol=snakemake.params.metrics
)
save_parquet(snakemake.output.metrics, metrics)
save_npy(snakemake.output.predictions, predictions)
if "masks" in snakemake.output.keys():
    from lesionmtl.exports import export_masks  # OpenCV: only where masks are exported

    export_masks(predictions, images, truth, lesions, snakemake.output.masks)
