# Every table and figure of the paper, each from the runs of the study that feeds it.
# An artefact whose study is not in the config is not built (delete a study to drop it).

STUDIES = config["experiment"]["studies"]
DATA_LABEL = " and ".join(
    sorted({"synthetic data" if "synthetic" in ds else "real data" for ds in config["datasets"].values()})
)
COMMON = {"datasets": DATASETS, "data_label": DATA_LABEL}
TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"


def run_files(study, name):
    return [f"{d}/{name}" for d in study_dirs(study)]


def in_report(path, caption, category):
    """An output shown in `snakemake --report` (Snakemake's parser misreads `report(` at a line start)."""
    return report(path, caption=f"captions/{caption}.rst", category=category)


def table(stem, caption, category="Tables"):
    return {
        ext: report(f"{TABLES}/{stem}.{ext}", caption=f"captions/{caption}.rst", category=category)
        for ext in ("md", "tex", "csv")
    }


def figure(stem, caption, category="Figures"):
    return {
        ext: report(f"{FIGURES}/{stem}.{ext}", caption=f"captions/{caption}.rst", category=category)
        for ext in ("png", "pdf")
    }


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
            **{f"{ds}_{ext}": path for ds in DATASETS for ext, path in table(f"table3-5_{ds}", "table3_5").items()},
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
            png=[in_report(f"{FIGURES}/figure3_{ds}.png", "figure3", "Figures") for ds in DATASETS],
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
