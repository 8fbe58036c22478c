"""The workflow on a real SLURM cluster: a small run through ``--workflow-profile profiles/slurm``
and the user profile docs/slurm.md shows, checked against what SLURM's accounting (``sacct``) says.

Marked ``slurm_cluster``, so the default ``python -m pytest`` leaves it out; it needs a cluster with
partitions ``cpu`` and ``gpu`` (one GPU GRES) and the account ``lesionmtl``, as
``tests/slurm/localhost-cluster.sh start`` sets up as root (docs/slurm.md, "Testing against a real
cluster"):

    sudo tests/slurm/localhost-cluster.sh start
    python -m pytest -m slurm_cluster tests/test_slurm_cluster.py

Without such a cluster it is skipped, saying why; in CI (``CI=true``) it fails instead.
5-7 minutes on 2 shared cores, nearly all of it the one workflow run: a training job that has
to run out of its one-minute time limit and the plugin's status polling set the pace.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lesionmtl.logs import STOPPED
from tests.conftest import REPO, clean_env, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slurm_cluster

CLUSTER_SCRIPT = "tests/slurm/localhost-cluster.sh"
ACCOUNT = "lesionmtl"
DOCS = REPO / "docs" / "slurm.md"
# What the table of docs/slurm.md ("What the workflow asks for") promises per submitted rule:
# (partition from the user's profile, CPUs, memory in MB, time limit in minutes per attempt, GPU).
# Training's time limit: 1 minute, then 21 at the retry, set in the user's profile as docs/slurm.md
# shows (`set-resources`, an expression of `attempt`). The first attempt surely runs out of time and
# the retry ends far from its limit: a job that ends in the seconds between its limit and SLURM's
# next look at it is recorded TIMEOUT though it finished, and its retry then starts over.
TRAIN_RUNTIME = "20 * attempt - 19"
TRAINING = {"threads": 1, "mem_mb": 1234}


def train_minutes(attempt: int) -> int:
    return eval(TRAIN_RUNTIME, {"attempt": attempt})


PROMISED = {
    "ingest": ("cpu", 1, 8000, lambda attempt: 120 * attempt, False),
    "pseudolabel_shard": ("cpu", 1, 4000, lambda attempt: 60 * attempt, False),
    "train": ("gpu", TRAINING["threads"], TRAINING["mem_mb"], train_minutes, True),
    "evaluate": ("cpu", 1, 2000, lambda attempt: 30 * attempt, False),
}
LOCAL = {"fetch", "cluster", "pseudolabels", "all"}  # + every report_* rule
# Training: 600 epochs of 0.19 s (a 2-core Zen 5 guest) to ~1.3 s (slower machines), 2 to 13 minutes:
# past the first limit and within the retry's at any plausible speed (250 epochs ended inside the
# first minute on the Zen 5 guest).
EPOCHS = 600
RUN = "results/ham/runs/a1-ellipse-k0-a50-s0"
# Seconds between the plugin's status checks (its default waits 40 s before the first one).
POLLING = ["--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5"]
SACCT_FIELDS = "JobIDRaw,Comment,WorkDir,Partition,Account,AllocCPUS,ReqMem,Timelimit,ReqTRES,AllocTRES,State"


def cluster_problem() -> str | None:
    """Why no usable cluster answers here, or None."""
    start = f"start one as root with `{CLUSTER_SCRIPT} start`"
    if os.geteuid() != 0 and shutil.which("sinfo") is None:
        return f"no SLURM here (sinfo not found), and {CLUSTER_SCRIPT} needs root to install and start one"
    if shutil.which("sinfo") is None:
        return f"no SLURM here (sinfo not found): {start}"
    try:
        sinfo = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return f"sinfo does not answer within 30 s: {start}"
    if sinfo.returncode != 0:
        last = (sinfo.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no SLURM cluster answers (sinfo: {last}): {start}"
    partitions = {p.rstrip("*") for p in sinfo.stdout.split()}
    if not {"cpu", "gpu"} <= partitions:
        return f"the cluster has partitions {sorted(partitions)}, not cpu and gpu: {start}"
    user = getpass.getuser()
    assoc = subprocess.run(
        ["sacctmgr", "-n", "-P", "show", "assoc", f"account={ACCOUNT}", f"user={user}", "format=user"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if assoc.returncode != 0 or not assoc.stdout.strip():
        problem = assoc.stderr.strip() or f"{user} has no association with it"
        return f"no SLURM account {ACCOUNT!r} for {user} (sacctmgr: {problem}): {start} (associates root)"
    return None


@pytest.fixture(scope="module")
def cluster() -> None:
    problem = cluster_problem()
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the real-SLURM test to run: {problem}")
    if problem:
        pytest.skip(problem)


def readme_user_profile(folder: Path) -> Path:
    """The user profile docs/slurm.md shows, with this cluster's account and a short time limit for
    training, as ``folder/config.yaml``."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    shown = next(yaml.safe_load(b) for b in blocks if "slurm_account" in b)
    shown["default-resources"]["slurm_account"] = ACCOUNT
    shown["set-resources"]["train"]["runtime"] = TRAIN_RUNTIME
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(shown))
    return folder


def write_release(folder: Path) -> None:
    """A small data set in HAM10000's released layout, its images still in the release's zip (so the
    local rule `fetch` unpacks them, as it would a download)."""
    from lesionmtl.datasets.synthetic import write_synthetic

    write_synthetic("ham", str(folder), **tiny_config()["datasets"]["synth_ham"]["synthetic"])
    with zipfile.ZipFile(folder / "HAM10000_images_part_1.zip", "w") as archive:
        for image in sorted(folder.glob("ISIC_*.jpg")):
            archive.write(image, image.name)
            image.unlink()


def small_config(raw_dir: Path, **training) -> dict:
    """That data set and one training run: each kind of rule once."""
    config = tiny_config()
    ham = {k: v for k, v in config["datasets"]["synth_ham"].items() if k != "synthetic"}
    config["datasets"] = {"ham": {**ham, "raw_dir": str(raw_dir)}}
    config["experiment"]["studies"] = {"main": {"models": ["a1"]}}
    config["training"].update({"epochs": EPOCHS, "patience": EPOCHS, **TRAINING, **training})
    return config


def sacct_jobs(workdir: Path, since: str) -> list[dict[str, str]]:
    """The SLURM jobs that ran in ``workdir`` since ``since``, as sacct records them once they end
    (a record can lack its comment for a moment after a job ends: then ask again)."""
    for _ in range(30):
        out = subprocess.run(
            ["sacct", "-a", "-X", "-P", "-n", "-S", since, "-o", SACCT_FIELDS],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        rows = [dict(zip(SACCT_FIELDS.split(","), line.split("|"))) for line in out.splitlines() if line]
        jobs = [r for r in rows if Path(r["WorkDir"]) == workdir]
        if all(j["Comment"] and j["State"] not in ("PENDING", "RUNNING", "COMPLETING") for j in jobs):
            return sorted(jobs, key=lambda j: int(j["JobIDRaw"]))
        time.sleep(2)
    raise AssertionError(f"sacct's records of the jobs in {workdir} stay incomplete: {jobs}")


def rule_of(job: dict[str, str]) -> str:
    """The rule named in a job's comment (the plugin's ``rule_<rule>_wildcards_<values>``)."""
    return re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", job["Comment"]).group(1)


def minutes(limit: str) -> int:
    """sacct's ``[D-]HH:MM:SS`` time limit in minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def now() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Run:
    """The small workflow, run to its end on the cluster."""

    workdir: Path
    raw_dir: Path
    args: list[str]  # the profiles, as a user gives them
    console: str
    since: str  # when it started
    jobs: list[dict[str, str]]  # sacct's record of every job it submitted


@pytest.fixture(scope="module")
def run(cluster, tmp_path_factory) -> Run:
    tmp = tmp_path_factory.mktemp("slurm_cluster")
    workdir = tmp / "work"
    workdir.mkdir()
    write_release(tmp / "HAM10000")
    write_config(workdir, small_config(tmp / "HAM10000"))
    args = ["--workflow-profile", str(REPO / "profiles" / "slurm"), "--profile", str(readme_user_profile(tmp / "me"))]
    since = now()
    result = snakemake(workdir, *args, *POLLING, cores=None, timeout=1500)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console[-6000:]
    return Run(workdir, tmp / "HAM10000", args, console, since, sacct_jobs(workdir, since))


def test_every_submitted_job_has_the_account_partition_cpus_memory_time_and_gpu_promised(run):
    jobs = run.jobs
    assert {rule_of(j) for j in jobs} == set(PROMISED), jobs
    attempts: dict[str, int] = {}
    for job in jobs:
        rule = rule_of(job)
        attempts[job["Comment"]] = attempt = attempts.get(job["Comment"], 0) + 1
        partition, cpus, mem_mb, time_limit, gpu = PROMISED[rule]
        assert (job["Account"], job["Partition"]) == (ACCOUNT, partition), job
        assert (int(job["AllocCPUS"]), job["ReqMem"]) == (cpus, f"{mem_mb}M"), job
        assert minutes(job["Timelimit"]) == time_limit(attempt), job
        for tres in ("ReqTRES", "AllocTRES"):
            assert ("gres/gpu=1" in job[tres].split(",")) == gpu, job
    assert (run.workdir / RUN / "metrics.parquet").stat().st_size > 0


def test_local_rules_never_reach_slurm(run):
    jobs = run.jobs
    # Snakemake's own lines, without the logs of failed jobs it printed (a job's SLURM log shows the
    # job step's Snakemake running its one rule as a local rule)
    own = re.sub(r"^Logfile .*:\n={80}\n.*?^={80}$", "", run.console, flags=re.M | re.S)
    local = set(re.findall(r"^localrule (\w+):", own, flags=re.M))
    assert local >= LOCAL and {r for r in local if r.startswith("report_")}, sorted(local)
    assert local <= LOCAL | {r for r in local if r.startswith("report_")}, sorted(local)
    assert not local & {rule_of(j) for j in jobs}


def test_a_training_job_out_of_time_is_resubmitted_with_more_time_and_resumes(run):
    workdir, console, jobs = run.workdir, run.console, run.jobs
    train = [j for j in jobs if rule_of(j) == "train"]
    states = [j["State"] for j in train]
    assert len(train) >= 2 and set(states[:-1]) == {"TIMEOUT"} and states[-1] == "COMPLETED", train
    assert [minutes(j["Timelimit"]) for j in train] == [train_minutes(i + 1) for i in range(len(train))]
    # the last attempt went on from the state the one before it left after its last saved epoch
    log = (workdir / RUN / "train.log").read_text()
    resumed = re.findall(r"resumed from \S+/state/last\.pt after epoch (\d+)", log)
    assert len(resumed) == 1 and 1 <= int(resumed[0]) < EPOCHS, log[-2000:]
    assert f"epoch {int(resumed[0]) + 1}/{EPOCHS} " in log and f"epoch {resumed[0]}/{EPOCHS} " not in log
    history = pd.read_parquet(workdir / RUN / "history.parquet")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert not (workdir / RUN / "state").exists()
    # what the console shows for it: SLURM's state, and the rule log's last line saying what stopped it
    first = train[0]["JobIDRaw"]
    assert f"SLURM-job '{first}' failed, SLURM status is: 'TIMEOUT'" in console
    slurm_log = next((workdir / ".snakemake" / "slurm_logs" / "rule_train").glob(f"*/{first}.log")).read_text()
    assert "DUE TO TIME LIMIT" in slurm_log
    printed = re.search(rf"^Logfile {RUN}/train\.log:\n={{80}}\n(.*?)^={{80}}$", console, flags=re.M | re.S)
    assert printed, console[-6000:]
    # its last line of text (the progress bar, closing, only blanks its own line)
    assert [line for line in printed.group(1).splitlines() if line.strip()][-1] == STOPPED, printed.group(1)[-3000:]


def test_a_rerun_submits_nothing(run):
    result = snakemake(run.workdir, *run.args, *POLLING, cores=None, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr
    assert sacct_jobs(run.workdir, run.since) == run.jobs


def squeue(workdir: Path) -> list[tuple[str, str]]:
    """(job id, state) of the queued and running jobs in ``workdir``."""
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i|%T|%Z"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [(i, state) for i, state, wd in (line.split("|") for line in out.splitlines()) if Path(wd) == workdir]


def test_an_interrupt_cancels_the_running_and_the_pending_jobs(run, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(run.workdir, workdir, symlinks=True)
    # two more training runs, each asking for every CPU of the node: one runs, the other waits
    cpus = max(int(c) for c in subprocess.check_output(["sinfo", "-h", "-o", "%c"], text=True).split())
    config = small_config(run.raw_dir, threads=cpus)
    config["experiment"]["studies"]["main"]["models"] = ["a1", "a1l", "unet"]
    write_config(workdir, config)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    since = now()
    with open(tmp_path / "console.log", "w") as console:
        proc = subprocess.Popen(
            [*cmd, *run.args, *POLLING], cwd=workdir, env=clean_env(), stdout=console, stderr=console
        )
        try:
            for _ in range(300):
                queued = squeue(workdir)
                if {"RUNNING", "PENDING"} <= {state for _, state in queued} or proc.poll() is not None:
                    break
                time.sleep(1)
            assert {"RUNNING", "PENDING"} <= {state for _, state in queued}, (tmp_path / "console.log").read_text()
            for _ in range(120):  # the running training has saved its state after an epoch
                if saved := list(workdir.glob("results/ham/runs/*/state/last.pt")):
                    break
                time.sleep(1)
            assert saved, (tmp_path / "console.log").read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=120) != 0
        finally:
            if proc.poll() is None:
                proc.kill()
    for _ in range(60):
        if not squeue(workdir):
            break
        time.sleep(1)
    assert squeue(workdir) == []
    jobs = sacct_jobs(workdir, since)
    assert {j["JobIDRaw"] for j in jobs} >= {i for i, _ in queued}, jobs
    assert [rule_of(j) for j in jobs] == ["train", "train"], jobs
    assert all(j["State"].startswith("CANCELLED") for j in jobs), jobs
    # what the cancelled training had done stays for the next run to resume
    assert all(state.exists() for state in saved), saved
