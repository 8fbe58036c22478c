# Tables and figures of the paper, from the runs' Parquet outputs.


rule report:
    input:
        metrics=[f"{d}/metrics.parquet" for ds in DATASETS for d in run_dirs(ds)],
        runs=[f"{d}/run.json" for ds in DATASETS for d in run_dirs(ds)],
        predictions=[f"{d}/predictions.npy" for ds in DATASETS for d in run_dirs(ds)],
        lesions=expand(f"{RESULTS}/{{dataset}}/lesions.parquet", dataset=DATASETS),
        images=expand(f"{RESULTS}/{{dataset}}/patches/images.npy", dataset=DATASETS),
        ellipse=expand(f"{RESULTS}/{{dataset}}/pseudo/ellipse.npy", dataset=DATASETS),
        truth=[score_masks_path(ds) for ds in DATASETS],
    output:
        table1_md=f"{RESULTS}/tables/table1.md",
        table1_tex=f"{RESULTS}/tables/table1.tex",
        table1_csv=f"{RESULTS}/tables/table1.csv",
        qualitative=f"{RESULTS}/figures/qualitative.png",
        training_curves=f"{RESULTS}/figures/training_curves.png",
    params:
        run_dirs=[d for ds in DATASETS for d in run_dirs(ds)],
        datasets={ds: {"synthetic": "synthetic" in config["datasets"][ds]} for ds in DATASETS},
        figure_lesions=config.get("report", {}).get("figure_lesions", 6),
        code=code_hash("report"),
    conda:
        "../envs/lesionmtl.yaml"
    log:
        f"{RESULTS}/logs/report.log",
    script:
        "../workflow_scripts/report.py"
