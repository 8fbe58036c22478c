# Training and evaluation of one run: {arch}-{supervision}-k{k}-a{alpha}-s{seed}.

RUN = f"{RESULTS}/{{dataset}}/runs/{{arch}}-{{supervision}}-k{{k}}-a{{alpha}}-s{{seed}}"

# Resources are not params: changing them reruns nothing, and a profile's `set-resources` (or
# `--set-resources`) overrides them per rule. `runtime` grows with each attempt (`retries`).
# A local run starts at most as many GPU jobs as this machine has GPUs, unless `--resources gpu=N`
# says otherwise; no limit without GPUs (the jobs then run on the CPU) or with a cluster executor
# (`--jobs`: the cluster places them).
if workflow.resource_settings.nodes is None and "gpu" not in workflow.resource_settings.resources:
    _gpus = visible_gpus()
    if _gpus:
        workflow.global_resources["gpu"] = _gpus


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
    threads: config["training"].get("threads", 1)
    resources:
        gpu=1,
        mem_mb=config["training"].get("mem_mb", 4000),
        runtime=runtime_per_attempt(config["training"].get("runtime", 60)),
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
        metrics=f"{RUN}/metrics.parquet",
        predictions=f"{RUN}/predictions.npy",
    log:
        f"{RUN}/evaluate.log",
    threads: config["training"].get("threads", 1)
    resources:
        gpu=1,  # it claims a GPU like training: the GPU limit must count it
        mem_mb=config["training"].get("mem_mb", 4000),
        runtime=runtime_per_attempt(60),
    params:
        code=code_hash("evaluate"),
    script:
        "../workflow_scripts/evaluate.py"
