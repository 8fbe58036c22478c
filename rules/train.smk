# Training and evaluation of one run: {arch}-{supervision}-k{k}-a{alpha}-s{seed}.

RUN = f"{RESULTS}/{{dataset}}/runs/{{arch}}-{{supervision}}-k{{k}}-a{{alpha}}-s{{seed}}"


rule train:
    input:
        unpack(training_inputs),
    output:
        model=f"{RUN}/model.pt",
        history=f"{RUN}/history.parquet",
        run=f"{RUN}/run.json",
    log:
        f"{RUN}/train.log",
    benchmark:
        f"{RUN}/train_benchmark.tsv"
    conda:
        "../envs/lesionmtl.yaml"
    threads: config["training"].get("threads", 1)
    resources:
        gpu=1,
        mem_mb=config["training"].get("mem_mb", 4000),
        runtime=config["training"].get("runtime", 60),
    params:
        training=training_settings,
        alpha_seg=lambda w: float(w.alpha),
        alpha_cls=config["experiment"]["alpha_cls"],
        state_dir=lambda w: f"{RESULTS}/{w.dataset}/runs/{w.arch}-{w.supervision}-k{w.k}-a{w.alpha}-s{w.seed}/state",
        code=code_hash("train"),
    script:
        "../workflow_scripts/train.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        **({"masks": directory(f"{RUN}/masks")} if EXPORT_MASKS else {}),
        metrics=f"{RUN}/metrics.parquet",
        predictions=f"{RUN}/predictions.npy",
        # per-lesion masks a person can open (config evaluation.export_masks; default off)
    log:
        f"{RUN}/evaluate.log",
    conda:
        "../envs/lesionmtl.yaml"
    threads: config["training"].get("threads", 1)
    resources:
        gpu=1,  # it claims a GPU like training: `--resources gpu=N` must count it
    params:
        code=code_hash("evaluate"),
    script:
        "../workflow_scripts/evaluate.py"
