# Training and evaluation of one run (its directory name: lesionmtl.runspec.NAME_TEMPLATE).

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
        model=run_path("model"),
        history=run_path("history"),
        run=run_path("record"),
        predictions=run_path("predictions"),
        class_logits=run_path("class_logits"),
    # No `benchmark:`: run.json records the run's times, and Snakemake's sampler (psutil's memory
    # map of each torch process, every 0.5 s at first) took ~6% of a core in the default run.
    log:
        run_path("train_log"),
    threads: CONFIG.training.threads
    resources:
        gpu=1,
        mem_mb=CONFIG.training.mem_mb,
        runtime=runtime_per_attempt(CONFIG.training.runtime),
    params:
        # only what shapes the result: threads and resources are not params, so raising
        # `runtime` does not retrain anything
        training=lambda w: CONFIG.training_for(w.dataset, w.arch),
        alpha_seg=lambda w: float(w.alpha),
        alpha_cls=CONFIG.experiment.alpha_cls,
        state_dir=run_path("state"),
        code=script_code("train.py"),
    script:
        "../workflow_scripts/train.py"


rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        # per-lesion masks a person can open (config evaluation.export_masks; default off)
        **({"masks": directory(run_path("masks"))} if CONFIG.evaluation.export_masks else {}),
        metrics=run_path("metrics"),
    log:
        run_path("evaluate_log"),
    wildcard_constraints:
        # a dataset with score_against: none is trained, never evaluated ("(?!)" matches nothing)
        dataset="|".join(map(re.escape, SCORED)) or "(?!)",
    # Scoring only (the train job predicted): numpy on one CPU, no GPU.
    threads: 1
    resources:
        mem_mb=2000,
        runtime=runtime_per_attempt(30),
    params:
        metrics=lambda w: CONFIG.metrics_for(w.dataset),
        code=script_code("evaluate.py"),
    script:
        "../workflow_scripts/evaluate.py"
