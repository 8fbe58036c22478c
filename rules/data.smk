# Raw data (synthetic stand-ins in the official formats, or the fetched real releases) ->
# lesion table + patch arrays.


rule synthesize:
    output:
        directory(f"{RESULTS}/raw/{{dataset}}"),
    log:
        f"{RESULTS}/logs/synthesize/{{dataset}}.log",
    localrule: True  # seconds of work: never queued on a cluster
    params:
        fmt=lambda w: dataset_config(w)["format"],
        synthetic=lambda w: dataset_config(w)["synthetic"],
        code=code_hash("synthesize"),
    script:
        "../workflow_scripts/synthesize.py"


rule ingest:
    input:
        ingest_inputs,
    output:
        lesions=f"{RESULTS}/{{dataset}}/lesions.parquet",
        images=f"{RESULTS}/{{dataset}}/patches/images.npy",
        gt_masks=f"{RESULTS}/{{dataset}}/patches/gt_masks.npy",
        rejected=f"{RESULTS}/{{dataset}}/rejected.parquet",
        summary=f"{RESULTS}/{{dataset}}/ingest.json",
    log:
        f"{RESULTS}/logs/ingest/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/{{dataset}}.tsv"
    resources:
        mem_mb=8000,
        runtime=runtime_per_attempt(120),
    params:
        raw_dir=raw_dir,
        fmt=lambda w: dataset_config(w)["format"],
        patch_size=lambda w: dataset_config(w)["patch_size"],
        split_fractions=lambda w: dataset_config(w).get("split_fractions", [0.7, 0.2, 0.1]),
        split_seed=lambda w: dataset_config(w).get("split_seed", 0),
        reader=lambda w: dataset_config(w).get("reader", {}),
        code=code_hash("ingest"),
    script:
        "../workflow_scripts/ingest.py"
