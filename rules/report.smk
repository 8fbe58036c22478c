# Every table and figure of the paper, each from the runs of the study that feeds it, as the
# artefact registry (lesionmtl/report/artefacts.py) declares them: one rule per builder.
# An artefact whose study is not in the config is not built (delete a study to drop it).

from lesionmtl.report.artefacts import (
    ARTEFACTS,
    PerDataset,
    Runs,
    builders,
    covered_datasets,
    is_built,
    output_key,
)


report: "captions/workflow.rst"


def artefact_datasets(artefact):
    return covered_datasets(artefact, CONFIG)


# Files the workflow resolves for a PerDataset input, beside the functions of lesionmtl.paths.
DATASET_INPUTS = {
    "reference_masks": score_masks_path,
    "clusters_at_k": lambda ds: paths.clusters(ds, CONFIG.datasets[ds].k),
}
PROTOCOL_NOTE = CONFIG.protocol_note  # the switches off our defaults, ending every caption (reads the schema)
# Settings a builder takes from the configuration, by the names the registry uses.
REPORT_PARAMS = {
    "score_against": lambda datasets: {ds: CONFIG.datasets[ds].score_against for ds in datasets},
    "encoders": lambda datasets: ["resnet101", CONFIG.training.settings["encoder"]],
    "cluster_counts": lambda datasets: {ds: CONFIG.datasets[ds].k for ds in datasets},
    "figure_lesions": lambda datasets: CONFIG.report.figure_lesions,
    "variants": lambda datasets: {ds: CONFIG.variant_facts(ds) for ds in datasets},
}


def artefact_input(artefact, spec):
    if isinstance(spec, Runs):
        return run_files(artefact.study, spec.key)
    path_of = DATASET_INPUTS.get(spec.path) or getattr(paths, spec.path)
    return [path_of(ds, *spec.args) for ds in artefact_datasets(artefact)]


def in_report(path, artefact, dataset):
    """The report entry of an artefact's listed file (Snakemake's parser misreads `report(` at a line start)."""
    others = ", ".join(f".{fmt}" for fmt in artefact.formats if fmt != artefact.entry_format)
    return report(
        path,
        caption=f"captions/{artefact.name}.rst",
        category=artefact.category,
        subcategory=artefact.title,
        labels={"dataset": dataset, "formats": f"{artefact.entry_format} (also {others})"},
    )


def artefact_path(artefact, stem, fmt):
    return (paths.table if artefact.kind == "table" else paths.figure)(stem, fmt)


def artefact_files(artefact):
    """{output key: path} of every file of ``artefact``; its report entries wrapped for the report."""
    datasets = artefact_datasets(artefact)
    files = {}
    for dataset, stem in zip(datasets if artefact.per_dataset else [None], artefact.file_stems(datasets)):
        for fmt in artefact.formats:
            path = artefact_path(artefact, stem, fmt)
            entry = fmt == artefact.entry_format
            files[output_key(artefact, fmt, dataset)] = in_report(path, artefact, dataset or "all") if entry else path
    return files


def report_outputs():
    """The default target (`all`): the first file of every artefact that is built, and the trained
    models of the unscored datasets."""
    wanted = [
        artefact_path(a, stem, a.formats[0])
        for a in ARTEFACTS.values()
        if is_built(a, CONFIG)
        for stem in a.file_stems(artefact_datasets(a))
    ]
    unscored = [ds for ds in DATASETS if ds not in SCORED]
    return wanted + [paths.run_file(ds, run, "model") for ds in unscored for run in CONFIG.experiment_runs(ds)]


for builder, artefacts in builders().items():

    rule:
        name:
            f"report_{builder}"
        input:
            **{key: artefact_input(a, spec) for a in artefacts for key, spec in a.inputs.items()},
        output:
            **{key: path for a in artefacts for key, path in artefact_files(a).items()},
        log:
            paths.log("report", builder),
        localrule: True  # each table or figure takes seconds: never queued on a cluster
        params:
            **{name: REPORT_PARAMS[name](artefact_datasets(artefacts[0])) for a in artefacts for name in a.params},
            datasets=artefact_datasets(artefacts[0]),
            data_label=CONFIG.data_label,
            protocol_note=PROTOCOL_NOTE,
            code=script_code("report.py"),
        script:
            "../workflow_scripts/report.py"
