# Raw data (synthetic stand-ins in the official formats, or the fetched real releases) ->
# lesion table + patch arrays.


rule synthesize:
    output:
        directory(paths.synthetic_raw_dir("{dataset}")),
    log:
        paths.log("synthesize", "{dataset}"),
    localrule: True  # seconds of work: never queued on a cluster
    params:
        fmt=lambda w: dataset_config(w).format,
        synthetic=lambda w: dataset_config(w).synthetic,
        code=script_code("synthesize.py"),
    script:
        "../workflow_scripts/synthesize.py"


rule ingest:
    input:
        ingest_inputs,
    output:
        lesions=paths.lesions("{dataset}"),
        images=paths.images("{dataset}"),
        gt_masks=paths.gt_masks("{dataset}"),
        rejected=paths.rejected("{dataset}"),
        summary=paths.ingest_summary("{dataset}"),
    log:
        paths.log("ingest", "{dataset}"),
    benchmark:
        paths.benchmark("ingest", "{dataset}")
    resources:
        mem_mb=8000,
        runtime=runtime_per_attempt(120),
    params:
        raw_dir=raw_dir,
        fmt=lambda w: dataset_config(w).format,
        patch_size=lambda w: dataset_config(w).patch_size,
        split_fractions=lambda w: dataset_config(w).split_fractions,
        split_seed=lambda w: dataset_config(w).split_seed,
        split_by=lambda w: dataset_config(w).split_by,
        reader=lambda w: dataset_config(w).reader,
        code=script_code("ingest.py"),
    script:
        "../workflow_scripts/ingest.py"
