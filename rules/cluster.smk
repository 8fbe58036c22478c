# K-means on RECIST ellipse shape features (config clustering.features), fit on the training split.


rule cluster:
    input:
        lesions=f"{RESULTS}/{{dataset}}/lesions.parquet",
    output:
        clusters=f"{RESULTS}/{{dataset}}/clusters/k{{k}}.parquet",
        centres=f"{RESULTS}/{{dataset}}/clusters/k{{k}}_centres.parquet",
    log:
        f"{RESULTS}/logs/cluster/{{dataset}}_k{{k}}.log",
    localrule: True  # K-means on a table of shape features: seconds
    params:
        k=lambda w: int(w.k),
        features=config.get("clustering", {}).get("features", "shape"),
        code=code_hash("cluster"),
    script:
        "../workflow_scripts/cluster.py"
