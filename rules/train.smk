# Training and evaluation of one run (its directory name: lesionmtl.runspec.NAME_TEMPLATE).


rule train:
    input:
        unpack(training_inputs),
    output:
        model=run_path("model"),
        history=run_path("history"),
        run=run_path("record"),
    log:
        run_path("train_log"),
    benchmark:
        run_path("train_benchmark")
    conda:
        "../envs/lesionmtl.yaml"
    threads: CONFIG.training.threads
    resources:
        gpu=1,
        mem_mb=CONFIG.training.mem_mb,
        runtime=CONFIG.training.runtime,
    params:
        # only what shapes the result: threads and resources are not params, so raising
        # `runtime` does not retrain anything
        training=lambda w: CONFIG.training.for_arch(w.arch),
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
        metrics=run_path("metrics"),
        predictions=run_path("predictions"),
    log:
        run_path("evaluate_log"),
    conda:
        "../envs/lesionmtl.yaml"
    threads: CONFIG.training.threads
    resources:
        gpu=1,  # it claims a GPU like training: `--resources gpu=N` must count it
    params:
        code=script_code("evaluate.py"),
    script:
        "../workflow_scripts/evaluate.py"
