# Every table and figure of the paper, each from the runs of the study that feeds it.
# An artefact whose study is not in the config is not built (delete a study to drop it).


report: "captions/workflow.rst"


# Each artefact: its inputs, outputs and own params; every one runs workflow_scripts/report.py,
# which calls lesionmtl.report.build.ARTEFACTS[<artefact>] with the inputs and outputs.
# A scored artefact reads evaluations: its `datasets` are the scored ones (SCORED).
ARTEFACT_RULES = {
    "data": dict(
        input=dict(summaries=per_dataset(paths.ingest_summary), rejected=per_dataset(paths.rejected)),
        output=table("data", "data"),
        params=dict(score_against={ds: CONFIG.datasets[ds].score_against for ds in DATASETS}),
    ),
    "table1": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("table1", "table1"),
        scored=True,
    ),
    "table2": dict(
        input=dict(runs=run_files("main", "record")),
        output=table("table2", "table2"),
    ),
    "supervision": dict(
        input=dict(runs=run_files("supervision", "metrics")),
        output={
            **{f"{ds}_{ext}": path for ds in SCORED for ext, path in table(f"table3-5_{ds}", "table3_5", ds).items()},
            **{f"table6_{ext}": path for ext, path in table("table6", "table6").items()},
        },
        params=dict(reference={ds: CONFIG.datasets[ds].score_against for ds in SCORED}),
        scored=True,
    ),
    "table7": dict(
        input=dict(runs=run_files("backbone", "metrics")),
        output=table("table7", "table7"),
        scored=True,
    ),
    "table8": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("table8", "table8"),
        scored=True,
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
        scored=True,
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
            images=per_dataset(paths.images, among=SCORED),
            ellipse=per_dataset(paths.pseudo_masks, "ellipse", among=SCORED),
            lesions=per_dataset(paths.lesions, among=SCORED),
            truth=per_dataset(score_masks_path, among=SCORED),
        ),
        output=figure("figure4", "figure4"),
        params=dict(figure_lesions=CONFIG.report.figure_lesions),
        scored=True,
    ),
    "figure5": dict(
        input=dict(runs=run_files("alpha", "metrics")),
        output=figure("figure5", "figure5"),
        scored=True,
    ),
    "training_curves": dict(
        input=dict(histories=run_files("main", "history")),
        output=figure("training_curves", "training_curves"),
    ),
    "diameters": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=table("diameters", "diameters"),
        scored=True,
    ),
    "bland_altman": dict(
        input=dict(runs=run_files("main", "metrics")),
        output=figure("bland_altman", "bland_altman"),
        scored=True,
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
            datasets=SCORED if spec.get("scored") else DATASETS,
            data_label=CONFIG.data_label,
            protocol_note=CONFIG.protocol_note,  # the switches off our defaults, in every caption
            code=script_code("report.py"),
        script:
            "../workflow_scripts/report.py"
