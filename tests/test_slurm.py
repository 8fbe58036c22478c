"""The SLURM profile (profiles/slurm) without a cluster: what the slurm executor plugin makes of a
GRES cluster's resources (the test cluster has no GPU types), dry runs that plan the workflow with
it, and the line a job stopped by SLURM ends its log with. tests/test_slurm_cluster.py runs the
workflow on a real cluster."""

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from lesionmtl.logs import STOPPED
from tests.conftest import REPO, TINY, snakemake

PROFILE = REPO / "profiles" / "slurm"
PAPER_CONFIG = REPO / "configs" / "paper.yaml"

GPU_RULES = {"train"}  # evaluation scores the predictions its training job wrote: a CPU job
# A user's own (global) profile: what only they know. The workflow's profile must not hide it.
USER_PROFILE = {
    "default-resources": {"slurm_account": "lesion_acct", "slurm_partition": "cpu_test"},
    "set-resources": {rule: {"slurm_partition": "gpu_test"} for rule in sorted(GPU_RULES)},
}


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
        cores=None,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_resources(result.stdout + result.stderr)
    assert jobs["train"] and jobs["evaluate"] and len(jobs["fetch"]) == 63
    check_planned_resources(jobs, "paper_acct", paper["training"])


STOPPABLE = """
import os, signal, sys, time
from lesionmtl.logs import log_to
log_to(sys.argv[1])
print("epoch 3:   0%|          | 0/2", end="", file=sys.stderr, flush=True)  # tqdm leaves no newline
print("ready", flush=True)
try:
    time.sleep(60)
finally:  # SLURM sends SIGTERM to the job and to its step: a second one while the first unwinds
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
"""


def test_a_job_stopped_by_sigterm_says_so_in_the_last_line_of_its_log(tmp_path):
    # SLURM sends SIGTERM at a job's time limit; the console then shows this log (show-failed-logs)
    log = tmp_path / "train.log"
    job = subprocess.Popen(
        [sys.executable, "-c", STOPPABLE, str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert job.stdout.readline() == "ready\n"
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=30)
    assert job.returncode == 128 + signal.SIGTERM
    lines = log.read_text().splitlines()
    assert lines[-1] == STOPPED and lines.count(STOPPED) == 1 and stderr.splitlines()[-1] == STOPPED
