# Every table and figure of the paper, each from the runs of the study that feeds it.
# An artefact whose study is not in the config is not built (delete a study to drop it).


report: "captions/workflow.rst"


STUDIES = config["experiment"]["studies"]
DATA_LABEL = " and ".join(
    sorted({"synthetic data" if "synthetic" in ds else "real data" for ds in config["datasets"].values()})
)
COMMON = {"datasets": DATASETS, "data_label": DATA_LABEL}
TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"


def run_files(study, name):
    return [f"{d}/{name}" for d in study_dirs(study)]


# Where `snakemake --report` lists each artefact (by caption): under the study it comes from, by
# name; one entry per artefact and dataset, its other formats named in a label.
REPORT_PLACES = {
    "data": ("data and models", "Data: lesions per split"),
    "parameters": ("data and models", "Parameter counts"),
    "pseudolabel_quality": ("data and models", "Pseudo-label quality"),
    "figure3": ("data and models", "Figure 3: lesion clusters"),
    "table1": ("study main", "Table 1: segmentation"),
    "table2": ("study main", "Table 2: training time"),
    "table8": ("study main", "Table 8: cluster accuracy"),
    "figure4": ("study main", "Figure 4: predictions"),
    "training_curves": ("study main", "Training curves"),
    "table3_5": ("study supervision", "Tables 3-5: GrabCut vs ellipse"),
    "table6": ("study supervision", "Table 6: supervision"),
    "table7": ("study backbone", "Table 7: U-Net vs DeepLabV3+"),
    "figure2": ("study clusters", "Figure 2: Dice vs K"),
    "figure5": ("study alpha", "Figure 5: Dice vs alpha_seg"),
}


def in_report(path, caption, dataset, formats):
    """The report entry of one artefact (Snakemake's parser misreads `report(` at a line start)."""
    category, name = REPORT_PLACES[caption]
    return report(
        path,
        caption=f"captions/{caption}.rst",
        category=category,
        subcategory=name,
        labels={"dataset": dataset, "formats": formats},
    )


def table(stem, caption, dataset="all"):
    """A table's md, tex and csv; the csv is its entry in the report."""
    paths = {ext: f"{TABLES}/{stem}.{ext}" for ext in ("md", "tex", "csv")}
    return {**paths, "csv": in_report(paths["csv"], caption, dataset, "csv (also .md, .tex)")}


def figure(stem, caption, dataset="all"):
    """A figure's png and pdf; the png is its entry in the report."""
    paths = {ext: f"{FIGURES}/{stem}.{ext}" for ext in ("png", "pdf")}
    return {**paths, "png": in_report(paths["png"], caption, dataset, "png (also .pdf)")}


def per_dataset(name):
    return expand(f"{RESULTS}/{{dataset}}/{name}", dataset=DATASETS)


def report_outputs():
    """The artefacts `rule all` asks for: those whose study is configured."""
    wanted = [
        f"{TABLES}/data.md",
        f"{TABLES}/table1.md",
        f"{TABLES}/table2.md",
        f"{TABLES}/parameters.md",
        f"{FIGURES}/figure3_{DATASETS[0]}.png",
        f"{FIGURES}/figure4.png",
        f"{FIGURES}/training_curves.png",
        f"{FIGURES}/pseudolabel_quality.png",
    ]
    if any(m in ("a1l", "unetl") for m in STUDIES["main"]["models"]):
        wanted.append(f"{TABLES}/table8.md")
    optional = {
        "supervision": f"{TABLES}/table6.md",
        "backbone": f"{TABLES}/table7.md",
        "clusters": f"{FIGURES}/figure2.png",
        "alpha": f"{FIGURES}/figure5.png",
    }
    return wanted + [path for study, path in optional.items() if study in STUDIES]


# Each artefact: its inputs, outputs and own params; every one runs workflow_scripts/report.py,
# which calls lesionmtl.report.build.<artefact>.
ARTEFACT_RULES = {
    "data": dict(
        input=dict(summaries=per_dataset("ingest.json"), rejected=per_dataset("rejected.parquet")),
        output=table("data", "data"),
    ),
    "table1": dict(
        input=dict(runs=run_files("main", "metrics.parquet")),
        output=table("table1", "table1"),
        params=dict(runs=study_dirs("main")),
    ),
    "table2": dict(
        input=dict(runs=run_files("main", "run.json")),
        output=table("table2", "table2"),
        params=dict(runs=study_dirs("main")),
    ),
    "supervision": dict(
        input=dict(runs=run_files("supervision", "metrics.parquet")),
        output={
            **{f"{ds}_{ext}": path for ds in DATASETS for ext, path in table(f"table3-5_{ds}", "table3_5", ds).items()},
            **{f"table6_{ext}": path for ext, path in table("table6", "table6").items()},
        },
        params=dict(
            runs=study_dirs("supervision"),
            reference={ds: config["datasets"][ds].get("score_against", "ground_truth") for ds in DATASETS},
        ),
    ),
    "table7": dict(
        input=dict(runs=run_files("backbone", "metrics.parquet")),
        output=table("table7", "table7"),
        params=dict(runs=study_dirs("backbone")),
    ),
    "table8": dict(
        input=dict(runs=run_files("main", "metrics.parquet")),
        output=table("table8", "table8"),
        params=dict(runs=study_dirs("main")),
    ),
    "parameters": dict(
        output=table("parameters", "parameters"),
        params=dict(
            encoders=["resnet101", config["training"]["encoder"]],
            cluster_counts={ds: config["datasets"][ds]["k"] for ds in DATASETS},
        ),
    ),
    "figure2": dict(
        input=dict(runs=run_files("clusters", "metrics.parquet")),
        output=figure("figure2", "figure2"),
        params=dict(runs=study_dirs("clusters")),
    ),
    "figure3": dict(
        input=dict(
            images=per_dataset("patches/images.npy"),
            ellipse=per_dataset("pseudo/ellipse.npy"),
            lesions=per_dataset("lesions.parquet"),
            clusters=[f"{RESULTS}/{ds}/clusters/k{config['datasets'][ds]['k']}.parquet" for ds in DATASETS],
        ),
        output=dict(
            png=[figure(f"figure3_{ds}", "figure3", ds)["png"] for ds in DATASETS],
            pdf=[f"{FIGURES}/figure3_{ds}.pdf" for ds in DATASETS],
        ),
    ),
    "figure4": dict(
        input=dict(
            predictions=run_files("main", "predictions.npy"),
            images=per_dataset("patches/images.npy"),
            ellipse=per_dataset("pseudo/ellipse.npy"),
            lesions=per_dataset("lesions.parquet"),
            truth=[score_masks_path(ds) for ds in DATASETS],
        ),
        output=figure("figure4", "figure4"),
        params=dict(runs=study_dirs("main"), figure_lesions=config.get("report", {}).get("figure_lesions", 6)),
    ),
    "figure5": dict(
        input=dict(runs=run_files("alpha", "metrics.parquet")),
        output=figure("figure5", "figure5"),
        params=dict(runs=study_dirs("alpha")),
    ),
    "training_curves": dict(
        input=dict(histories=run_files("main", "history.parquet"), records=run_files("main", "run.json")),
        output=figure("training_curves", "training_curves"),
        params=dict(runs=study_dirs("main")),
    ),
    "pseudolabel_quality": dict(
        input=dict(facts=per_dataset("pseudolabels.parquet")),
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
            f"{RESULTS}/logs/report/{artefact}.log",
        localrule: True  # each table or figure takes seconds: never queued on a cluster
        params:
            **spec.get("params", {}),
            **COMMON,
            code=code_hash("report"),
        script:
            "../workflow_scripts/report.py"
