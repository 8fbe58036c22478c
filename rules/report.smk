# Every table and figure of the paper, each from the runs of the study that feeds it.
# An artefact whose study is not in the config is not built (delete a study to drop it).


report: "captions/workflow.rst"


# Each artefact: its inputs, outputs and own params; every one runs workflow_scripts/report.py,
# which calls lesionmtl.report.build.ARTEFACTS[<artefact>] with the inputs and outputs.
ARTEFACT_RULES = {
    "data": dict(
        input=dict(summaries=per_dataset(paths.ingest_summary), rejected=per_dataset(paths.rejected)),
        output=table("data", "data"),
    ),
    "table1": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("table1", "table1"),
    ),
    "table2": dict(
        input=dict(runs=run_files("main", "record")),
        output=table("table2", "table2"),
    ),
    "supervision": dict(
        input=dict(runs=run_files("supervision", "metrics")),
        output={
            **{f"{ds}_{ext}": path for ds in DATASETS for ext, path in table(f"table3-5_{ds}", "table3_5", ds).items()},
            **{f"table6_{ext}": path for ext, path in table("table6", "table6").items()},
        },
        params=dict(reference={ds: CONFIG.datasets[ds].score_against for ds in DATASETS}),
    ),
    "table7": dict(
        input=dict(runs=run_files("backbone", "metrics")),
        output=table("table7", "table7"),
    ),
    "table8": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("table8", "table8"),
    ),
    "parameters": dict(
        output=table("parameters", "parameters"),
        params=dict(
            encoders=["resnet101", CONFIG.training.settings["encoder"]],
            cluster_counts={ds: CONFIG.datasets[ds].k for ds in DATASETS},
        ),
    ),
    "figure2": dict(
        input=dict(runs=run_files("clusters", "metrics")),
        output=figure("figure2", "figure2"),
    ),
    "figure3": dict(
        input=dict(
            images=per_dataset(paths.images),
            ellipse=per_dataset(paths.pseudo_masks, "ellipse"),
            lesions=per_dataset(paths.lesions),
            clusters=[paths.clusters(ds, CONFIG.datasets[ds].k) for ds in DATASETS],
        ),
        output=dict(
            png=[figure(f"figure3_{ds}", "figure3", ds)["png"] for ds in DATASETS],
            pdf=[paths.figure(f"figure3_{ds}", "pdf") for ds in DATASETS],
        ),
    ),
    "figure4": dict(
        input=dict(
            predictions=run_files("main", "predictions"),
            images=per_dataset(paths.images),
            ellipse=per_dataset(paths.pseudo_masks, "ellipse"),
            lesions=per_dataset(paths.lesions),
            truth=per_dataset(score_masks_path),
        ),
        output=figure("figure4", "figure4"),
        params=dict(figure_lesions=CONFIG.report.figure_lesions),
    ),
    "figure5": dict(
        input=dict(runs=run_files("alpha", "metrics")),
        output=figure("figure5", "figure5"),
    ),
    "training_curves": dict(
        input=dict(histories=run_files("main", "history")),
        output=figure("training_curves", "training_curves"),
    ),
    "diameters": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("diameters", "diameters"),
    ),
    "bland_altman": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=figure("bland_altman", "bland_altman"),
    ),
    "pseudolabel_quality": dict(
        input=dict(facts=per_dataset(paths.pseudolabel_facts)),
        output=figure("pseudolabel_quality", "pseudolabel_quality"),
    ),
}


for artefact, spec in ARTEFACT_RULES.items():

    rule:
        name:
            f"report_{artefact}"
        input:
            **spec.get("input", {}),
        output:
            **spec["output"],
        log:
            paths.log("report", artefact),
        localrule: True  # each table or figure takes seconds: never queued on a cluster
        params:
            **spec.get("params", {}),
            **COMMON,
            code=script_code("report.py"),
        script:
            "../workflow_scripts/report.py"
