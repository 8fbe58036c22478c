from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from pathlib import Path

import pandas as pd

from lesionmtl.checkpoints import DataSource
from lesionmtl.inference import Predictor, predict_lesions
from lesionmtl.io import save_npy
from lesionmtl.training import TrainConfig, discard_state, load_training_data, train_run

w, p, inputs, out = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
config = TrainConfig(
    arch=w.arch,
    seed=int(w.seed),
    alpha_seg=p.alpha_seg,
    alpha_cls=p.alpha_cls,
    threads=snakemake.threads,
    **p.training,
)
data = load_training_data(
    Path(inputs.lesions),
    Path(inputs.images),
    Path(inputs.masks),
    Path(inputs.clusters) if "clusters" in inputs.keys() else None,
)
source = DataSource.from_ingest_json(Path(inputs.ingest), w.dataset, w.supervision)
train_run(config, data, Path(out.model), Path(out.history), Path(out.run), Path(p.state_dir), source, keep_state=True)
# Predicted here, where the model already is: the evaluation job then needs no torch.
prediction = predict_lesions(
    Predictor.from_checkpoint(out.model, device=config.device), pd.read_parquet(inputs.lesions), data.images
)
save_npy(out.predictions, prediction.masks())
save_npy(out.class_logits, prediction.logits_array())
discard_state(Path(p.state_dir))  # only now: a job killed while predicting resumes from its last saved epoch
