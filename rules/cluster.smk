# K-means on RECIST ellipse shape features (config clustering.features), fit on the training split.


rule cluster:
    input:
        lesions=paths.lesions("{dataset}"),
    output:
        clusters=paths.clusters("{dataset}", "{k}"),
        centres=paths.cluster_centres("{dataset}", "{k}"),
    log:
        paths.log("cluster", "{dataset}_k{k}"),
    localrule: True  # K-means on a table of shape features: seconds
    params:
        k=lambda w: int(w.k),
        features=lambda w: CONFIG.clustering_for(w.dataset).features,
        fit_on=lambda w: CONFIG.clustering_for(w.dataset).fit_on,
        code=script_code("cluster.py"),
    script:
        "../workflow_scripts/cluster.py"
