# Ellipse and GrabCut pseudo-masks from RECIST; GrabCut split into shards to use every core.

N_SHARDS = config["pseudolabels"].get("shards", 2)


rule pseudolabel_shard:
    input:
        lesions=f"{RESULTS}/{{dataset}}/lesions.parquet",
        images=f"{RESULTS}/{{dataset}}/patches/images.npy",
        gt_masks=f"{RESULTS}/{{dataset}}/patches/gt_masks.npy",
    output:
        masks=temp(f"{RESULTS}/{{dataset}}/pseudo/shards/{{shard}}.npz"),
        facts=temp(f"{RESULTS}/{{dataset}}/pseudo/shards/{{shard}}.parquet"),
    log:
        f"{RESULTS}/logs/pseudolabels/{{dataset}}_{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pseudolabels/{{dataset}}_{{shard}}.tsv"
    resources:
        mem_mb=4000,
        runtime=runtime_per_attempt(60),
    params:
        shard=lambda w: int(w.shard),
        n_shards=N_SHARDS,
        iterations=config["pseudolabels"].get("grabcut_iterations", 5),
        code=code_hash("pseudolabels"),
    script:
        "../workflow_scripts/pseudolabel_shard.py"


rule pseudolabels:
    input:
        masks=expand(f"{RESULTS}/{{{{dataset}}}}/pseudo/shards/{{shard}}.npz", shard=range(N_SHARDS)),
        facts=expand(f"{RESULTS}/{{{{dataset}}}}/pseudo/shards/{{shard}}.parquet", shard=range(N_SHARDS)),
    output:
        ellipse=f"{RESULTS}/{{dataset}}/pseudo/ellipse.npy",
        grabcut=f"{RESULTS}/{{dataset}}/pseudo/grabcut.npy",
        facts=f"{RESULTS}/{{dataset}}/pseudolabels.parquet",
    log:
        f"{RESULTS}/logs/pseudolabels/{{dataset}}.log",
    localrule: True  # merges the shards: seconds
    script:
        "../workflow_scripts/pseudolabels.py"
