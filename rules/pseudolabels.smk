# Ellipse and GrabCut pseudo-masks from RECIST; GrabCut split into shards to use every core.


rule pseudolabel_shard:
    input:
        lesions=paths.lesions("{dataset}"),
        images=paths.images("{dataset}"),
        gt_masks=paths.gt_masks("{dataset}"),
    output:
        masks=temp(paths.pseudo_shard("{dataset}", "{shard}", "npz")),
        facts=temp(paths.pseudo_shard("{dataset}", "{shard}", "parquet")),
    log:
        paths.log("pseudolabels", "{dataset}_{shard}"),
    benchmark:
        paths.benchmark("pseudolabels", "{dataset}_{shard}")
    resources:
        mem_mb=4000,
        runtime=runtime_per_attempt(60),
    params:
        shard=lambda w: int(w.shard),
        n_shards=CONFIG.pseudolabels.shards,
        iterations=CONFIG.pseudolabels.grabcut_iterations,
        ellipse=lambda w: dataset_config(w).pseudolabels["ellipse"],
        grabcut=lambda w: dataset_config(w).pseudolabels["grabcut"],
        code=script_code("pseudolabel_shard.py"),
    script:
        "../workflow_scripts/pseudolabel_shard.py"


rule pseudolabels:
    input:
        masks=[paths.pseudo_shard("{dataset}", shard, "npz") for shard in range(CONFIG.pseudolabels.shards)],
        facts=[paths.pseudo_shard("{dataset}", shard, "parquet") for shard in range(CONFIG.pseudolabels.shards)],
    output:
        ellipse=paths.pseudo_masks("{dataset}", "ellipse"),
        grabcut=paths.pseudo_masks("{dataset}", "grabcut"),
        facts=paths.pseudolabel_facts("{dataset}"),
    log:
        paths.log("pseudolabels", "{dataset}"),
    localrule: True  # merges the shards: seconds
    params:
        code=script_code("pseudolabels.py"),
    script:
        "../workflow_scripts/pseudolabels.py"
