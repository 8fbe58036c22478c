from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from pathlib import Path

from lesionmtl.checkpoints import DataSource
from lesionmtl.training import TrainConfig, load_training_data, train_run

w, p = snakemake.wildcards, snakemake.params
config = TrainConfig(
    arch=w.arch,
    seed=int(w.seed),
    alpha_seg=p.alpha_seg,
    alpha_cls=p.alpha_cls,
    threads=snakemake.threads,
    **p.training,
)
data = load_training_data(
    Path(snakemake.input.lesions),
    Path(snakemake.input.images),
    Path(snakemake.input.masks),
    Path(snakemake.input.clusters) if "clusters" in snakemake.input.keys() else None,
)
out = snakemake.output
source = DataSource.from_ingest_json(Path(snakemake.input.ingest), w.dataset, w.supervision)
train_run(config, data, Path(out.model), Path(out.history), Path(out.run), Path(p.state_dir), source)
