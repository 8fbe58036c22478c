from lesionmtl.logs import log_to

log_to(snakemake.log[0])

from lesionmtl.report.build import build_report

inputs, params = snakemake.input, snakemake.params
datasets = {
    name: {**facts, "lesions": inputs.lesions[i], "images": inputs.images[i], "ellipse": inputs.ellipse[i], "truth": inputs.truth[i]}
    for i, (name, facts) in enumerate(params.datasets.items())
}
build_report(params.run_dirs, datasets, dict(snakemake.output.items()), params.figure_lesions)
