from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.report.build import builder

builder(snakemake.rule.removeprefix("report_"))(snakemake.input, snakemake.output, snakemake.params)
