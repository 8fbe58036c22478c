from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from pathlib import Path

from lesionmtl.datasets.ingest import ingest

out_dir = Path(snakemake.output.lesions).parent
ingest(
    snakemake.params.fmt,
    Path(snakemake.params.raw_dir),
    out_dir,
    patch_size=snakemake.params.patch_size,
    seed=snakemake.params.split_seed,
    split_fractions=tuple(snakemake.params.split_fractions),
    split_by=snakemake.params.split_by,
    **snakemake.params.reader,
)
