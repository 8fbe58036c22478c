# K-means on RECIST ellipse shape features, fit on the training split.


rule cluster:
    input:
        lesions=f"{RESULTS}/{{dataset}}/lesions.parquet",
    output:
        clusters=f"{RESULTS}/{{dataset}}/clusters/k{{k}}.parquet",
        centres=f"{RESULTS}/{{dataset}}/clusters/k{{k}}_centres.parquet",
    params:
        k=lambda w: int(w.k),
        code=code_hash("cluster"),
    conda:
        "../envs/lesionmtl.yaml"
    log:
        f"{RESULTS}/logs/cluster/{{dataset}}_k{{k}}.log",
    script:
        "../workflow_scripts/cluster.py"
