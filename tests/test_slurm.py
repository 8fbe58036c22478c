"""The SLURM profile (profiles/slurm): what the slurm executor plugin makes of its resources, dry
runs that plan the workflow with it, and a real run through stand-in sbatch/srun/sacct/...
scripts (tests/fake_slurm/) that record every call and run the jobs."""

import json
import os
import re
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, TINY, clean_env, snakemake

PROFILE = REPO / "profiles" / "slurm"
FAKE_SLURM = Path(__file__).resolve().parent / "fake_slurm"
PAPER_CONFIG = REPO / "configs" / "paper.yaml"

GPU_RULES = {"train", "evaluate"}
# A user's own (global) profile: what only they know. The workflow's profile must not hide it.
USER_PROFILE = {
    "default-resources": {"slurm_account": "lesion_acct", "slurm_partition": "cpu_test"},
    "set-resources": {rule: {"slurm_partition": "gpu_test"} for rule in sorted(GPU_RULES)},
}

# The real run: every SLURM job costs two Snakemake start-ups (sbatch -> snakemake --executor
# slurm-jobstep -> srun -> snakemake), so it runs as few jobs as still include each kind of rule:
# one small HAM10000-format data set, written by the test and read from `raw_dir` as real data
# would be, its images still in the release's zip; as targets the evaluation of A1 trained on the
# reference masks ("full", one epoch), the clusters and the data table. That is `fetch` (unpacking
# the zip), `cluster` and `report_data` (local rules, never submitted), `ingest` (CPU), `train` and
# `evaluate` (GPU). The first training job runs out of time (the stand-in says TIMEOUT) and is
# retried with twice the runtime. mem_mb / runtime of training are distinctive, to see that they
# come from the config.
HAM = TINY["datasets"]["synth_ham"]
SMALL_TRAINING = {**TINY["training"], "epochs": 1, "patience": 1, "mem_mb": 1234, "runtime": 7}
RUN = "results/ham/runs/a1-full-k0-a50-s0"
TARGETS = [f"{RUN}/metrics.parquet", "results/ham/clusters/k3.parquet", "results/tables/data.md"]
SUBMITTED = {"ingest", "train", "evaluate"}
CPU_RULES = {"ingest"}


def profile_config() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def write_user_profile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(USER_PROFILE))
    return folder


def dry_run_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """{rule: [resources of each planned job]} from the job blocks of a dry run."""
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in output.splitlines():
        if match := re.fullmatch(r"(?:local)?rule (\w+):", line.strip()):
            rule = match.group(1)
        elif rule and line.strip().startswith("resources:"):
            pairs = (item.split("=", 1) for item in line.split(":", 1)[1].split(", "))
            jobs.setdefault(rule, []).append({k.strip(): v.strip() for k, v in pairs})
            rule = None
    return jobs


def check_planned_resources(jobs: dict[str, list[dict[str, str]]], account: str, training: dict) -> None:
    """The user's account on every job, the user's partitions, and the workflow's GPU, memory and
    runtime requests per rule kind."""
    for rule, planned in jobs.items():
        for res in planned:
            assert res["slurm_account"] == account, (rule, res)
            if rule in GPU_RULES:
                assert res["gpu"] == "1" and res["slurm_partition"] == "gpu_test", (rule, res)
                assert res["mem_mb"] == str(training["mem_mb"]), (rule, res)
            else:
                assert "gpu" not in res and res["slurm_partition"] == "cpu_test", (rule, res)
            if rule in ("ingest", "pseudolabel_shard", *GPU_RULES):
                assert int(res["runtime"]) > 0 and int(res["mem_mb"]) >= 1000, (rule, res)
    for res in jobs["train"]:
        assert res["runtime"] == str(training["runtime"]), res


def test_profile_leaves_account_partitions_and_resources_to_the_user():
    profile = profile_config()
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    # a workflow profile's default-resources / set-resources would replace the user's whole entry
    assert not {"default-resources", "set-resources"} & set(profile)
    assert "<" not in (PROFILE / "config.yaml").read_text(), "placeholders left in the profile"


class FakeResources(dict):
    __getattr__ = dict.__getitem__


class FakeJob:
    """What the plugin's sbatch command builder reads from a Snakemake job."""

    def __init__(self, name: str, threads: int, resources: dict):
        self.name, self.threads, self.resources = name, threads, FakeResources(resources)

    def is_group(self) -> bool:
        return False


def sbatch_command(rule: str, resources: dict) -> list[str]:
    """The sbatch command snakemake-executor-plugin-slurm builds for a job with these resources."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = FakeJob(rule, 1, resources)
    params = {
        "run_uuid": "uuid",
        "slurm_logfile": "log/%j.log",
        "comment_str": f"rule_{rule}",
        "account": "-A lesion_acct",
        "partition": "-p gpu_test",
        "workdir": "/work",
    }
    return shlex.split(get_submit_command(job, params) + set_gres_string(job))


def test_the_readme_gres_variant_asks_for_a_gres_and_no_gpus():
    # set-resources train: {gres: "gpu:a100:1", gpu: 0} over the rule's own gpu=1
    gres = sbatch_command("train", {"gpu": 0, "gres": "gpu:a100:1", "mem_mb": 1234, "runtime": 7})
    assert "--gres=gpu:a100:1" in gres, gres
    assert not any(a.startswith("--gpus") for a in gres), gres


def test_dry_run_with_the_slurm_profile_and_a_user_profile(tmp_path):
    training = {**TINY["training"], "mem_mb": 1234, "runtime": 7}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**TINY, "training": training}))
    user = write_user_profile(tmp_path / "user-profile")
    result = snakemake(tmp_path, "-n", "--workflow-profile", str(PROFILE), "--profile", str(user), cores=None)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_resources(result.stdout + result.stderr)
    assert len(jobs["synthesize"]) == sum("synthetic" in d for d in TINY["datasets"].values())
    assert len(jobs["train"]) == len(jobs["evaluate"]) >= 2
    check_planned_resources(jobs, "lesion_acct", training)
    assert not (tmp_path / "results").exists(), "a dry run wrote results"


def test_dry_run_of_the_paper_config_with_account_and_partitions_on_the_command_line(tmp_path):
    paper = yaml.safe_load(PAPER_CONFIG.read_text())
    for dataset in paper["datasets"].values():  # empty stand-ins for the real data folders
        if "raw_dir" in dataset:
            assert not Path(dataset["raw_dir"]).is_absolute(), "relative raw_dir expected"
            (tmp_path / dataset["raw_dir"]).mkdir(parents=True, exist_ok=True)
    result = snakemake(
        tmp_path,
        "-n",
        "--workflow-profile",
        str(PROFILE),
        "--configfile",
        str(PAPER_CONFIG),
        "--default-resources",
        "slurm_account=paper_acct",
        "slurm_partition=cpu_test",
        "--set-resources",
        "train:slurm_partition=gpu_test",
        "evaluate:slurm_partition=gpu_test",
        cores=None,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_resources(result.stdout + result.stderr)
    assert jobs["train"] and jobs["evaluate"] and len(jobs["fetch"]) == 63
    check_planned_resources(jobs, "paper_acct", paper["training"])


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """A real run through the repository's profile and a user's own profile, against the stand-in
    SLURM (4 submitted jobs, the first of them timing out; about 2 minutes on 2 busy cores)."""
    from lesionmtl.datasets.synthetic import write_synthetic

    tmp = tmp_path_factory.mktemp("slurm")
    workdir, state, fake_bin = tmp / "work", tmp / "state", tmp / "bin"
    workdir.mkdir()
    write_synthetic(HAM["format"], str(tmp / "HAM10000"), **HAM["synthetic"])
    images = sorted((tmp / "HAM10000").glob("ISIC_*.jpg"))
    with zipfile.ZipFile(tmp / "HAM10000" / "HAM10000_images_part_1.zip", "w") as z:
        for image in images:
            z.write(image, image.name)
            image.unlink()
    ham = {**{k: v for k, v in HAM.items() if k != "synthetic"}, "raw_dir": str(tmp / "HAM10000")}
    config = {**TINY, "datasets": {"ham": ham}, "training": SMALL_TRAINING}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    # the stand-ins, run by this interpreter and executable whatever the checkout did to file modes
    shutil.copytree(FAKE_SLURM, fake_bin, ignore=shutil.ignore_patterns("__pycache__"))
    for script in fake_bin.iterdir():
        if script.suffix != ".py":
            lines = script.read_text().splitlines(keepends=True)
            script.write_text(f"#!{sys.executable}\n" + "".join(lines[1:]))
            script.chmod(0o755)
    env = clean_env()
    env.update(
        PATH=f"{fake_bin}{os.pathsep}{env['PATH']}",
        FAKE_SLURM_DIR=str(state),
        FAKE_SLURM_ACCOUNTS="other_acct,lesion_acct",
        FAKE_SLURM_PARTITIONS="other_partition,cpu_test,gpu_test",
        FAKE_SLURM_TIME_OUT_ONCE="rule_train",
        # the user's profile from the environment, as their shell setup would give it
        SNAKEMAKE_PROFILE=str(write_user_profile(tmp / "user-profile")),
    )
    result = snakemake(
        workdir,
        *TARGETS,
        "--workflow-profile",
        str(PROFILE),
        "--jobs",
        "1",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        "--slurm-keep-successful-logs",
        "--latency-wait",
        "5",
        env=env,
        cores=None,
        timeout=400,
    )
    log = state / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return workdir, result, calls


def submissions(calls) -> dict[str, list[list[str]]]:
    """{rule: [sbatch arguments of each submission]} from the recorded sbatch calls (the rule is in
    --comment)."""
    by_rule: dict[str, list[list[str]]] = {}
    for call in calls:
        if call["prog"] == "sbatch":
            argv = call["argv"]
            comment = argv[argv.index("--comment") + 1]
            rule = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", comment).group(1)
            by_rule.setdefault(rule, []).append(argv)
    return by_rule


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.slow
def test_real_run_through_the_profile_produces_the_targets_and_runs_cheap_rules_locally(slurm_run):
    workdir, result, calls = slurm_run
    assert result.returncode == 0, result.stderr[-5000:]
    for target in TARGETS:
        assert (workdir / target).stat().st_size > 0, target
    # only the CPU and GPU rules went through sbatch; fetch, cluster and report_data ran on the
    # "login node"; sacct polled the jobs
    assert set(submissions(calls)) == SUBMITTED, result.stderr[-3000:]
    assert any(c["prog"] == "sacct" for c in calls), "job status was never polled with sacct"
    receipt = workdir.parent / "HAM10000" / ".fetched" / "HAM10000_images_part_1.zip.json"
    assert json.loads(receipt.read_text())["files_unpacked"] > 0


@pytest.mark.slow
def test_the_users_account_and_partitions_reach_every_job(slurm_run):
    _, result, calls = slurm_run
    jobs = submissions(calls)
    assert jobs, result.stderr[-3000:]
    for rule, submitted in jobs.items():
        for argv in submitted:
            assert value(argv, "-A") == "lesion_acct", (rule, argv)
            assert value(argv, "-p") == ("gpu_test" if rule in GPU_RULES else "cpu_test"), (rule, argv)


@pytest.mark.slow
def test_gpu_jobs_ask_for_a_gpu_and_a_timed_out_training_is_retried_with_more_time(slurm_run):
    _, result, calls = slurm_run
    jobs = submissions(calls)
    assert len(jobs.get("train", [])) == 2, result.stderr[-3000:]
    for argv in jobs["train"] + jobs["evaluate"]:
        assert "--gpus=1" in argv and "--cpus-per-task=1" in argv, argv
        assert not any(a.startswith("--gres") for a in argv), argv
    # training's memory and runtime come from the config; the retry after TIMEOUT gets twice the time
    assert [(value(a, "--mem"), value(a, "-t")) for a in jobs["train"]] == [("1234", "7"), ("1234", "14")]
    # inside the allocation the plugin's job step asks srun for the GPU again
    steps = [c["argv"] for c in calls if c["prog"] == "srun" and "--gpus=1" in c["argv"]]
    assert len(steps) == 2, steps


@pytest.mark.slow
def test_cpu_jobs_ask_for_no_gpu(slurm_run):
    workdir, result, calls = slurm_run
    jobs = submissions(calls)
    assert set(jobs) & CPU_RULES == CPU_RULES, result.stderr[-3000:]
    for rule in CPU_RULES:
        for argv in jobs[rule]:
            assert not any(a.startswith(("--gpus", "--gres", "--cpus-per-gpu")) for a in argv), (rule, argv)
            assert "--cpus-per-task=1" in argv and "--ntasks=1" in argv, (rule, argv)
            assert (value(argv, "--mem"), value(argv, "-t")) == ("8000", "120"), (rule, argv)
    # every job ran where snakemake was started, through the slurm-jobstep executor
    for argv in (a for submitted in jobs.values() for a in submitted):
        assert value(argv, "-D") == str(workdir)
        wrapped = next(a for a in argv if a.startswith("--wrap="))
        assert "--executor slurm-jobstep" in wrapped and "--jobs 1" in wrapped
