from lesionmtl.logs import log_to

log_to(snakemake.log[0])

import numpy as np
import pandas as pd

from lesionmtl.evaluation import evaluate_run
from lesionmtl.io import save_parquet

inputs = snakemake.input
clusters = pd.read_parquet(inputs.clusters) if "clusters" in inputs.keys() else None
lesions, truth = pd.read_parquet(inputs.lesions), np.load(inputs.truth) != 0
predictions = np.load(inputs.predictions)
metrics = evaluate_run(
    predictions, np.load(inputs.class_logits), lesions, truth, clusters, metric_protocol=snakemake.params.metrics
)
save_parquet(snakemake.output.metrics, metrics)
if "masks" in snakemake.output.keys():
    from lesionmtl.exports import export_masks  # OpenCV: only where masks are exported

    export_masks(predictions, np.load(inputs.images), truth, lesions, snakemake.output.masks)
