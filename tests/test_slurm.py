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

PLACEHOLDERS = {"<YOUR_ACCOUNT>": "lesion_acct", "<YOUR_CPU_PARTITION>": "cpu_test", "<YOUR_GPU_PARTITION>": "gpu_test"}
GPU_RULES = {"train", "evaluate"}

# The real run: every SLURM job costs two Snakemake start-ups (sbatch -> snakemake --executor
# slurm-jobstep -> srun -> snakemake), so it runs as few jobs as still include a CPU and a GPU
# rule: one small HAM10000-format data set, written by the test and read from `raw_dir` as real
# data would be, its images still in the release's zip; as target the model of A1 trained on the
# reference masks ("full"), one epoch. That is `fetch` (unpacking the zip: a local rule, never
# submitted), `ingest` (CPU) and `train` (GPU); `evaluate` is checked by the dry runs and by the
# plugin's own sbatch command builder. mem_mb / runtime of training are distinctive, to see that
# they come from the config.
HAM = TINY["datasets"]["synth_ham"]
SMALL_TRAINING = {**TINY["training"], "epochs": 1, "patience": 1, "mem_mb": 1234, "runtime": 7}
RUN = "results/ham/runs/a1-full-k0-a50-s0"
CPU_RULES = {"ingest"}


def profile_config() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


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


def check_planned_resources(jobs: dict[str, list[dict[str, str]]]) -> None:
    for rule, planned in jobs.items():
        for res in planned:
            assert res["slurm_account"] == "<YOUR_ACCOUNT>", (rule, res)
            if rule in GPU_RULES:
                assert res["gpu"] == "1" and res["cpus_per_gpu"] == "4", (rule, res)
                assert res["slurm_partition"] == "<YOUR_GPU_PARTITION>", (rule, res)
            elif rule != "all":
                assert "gpu" not in res and "cpus_per_gpu" not in res, (rule, res)
                assert res["slurm_partition"] == "<YOUR_CPU_PARTITION>", (rule, res)


def test_profile_keeps_placeholders_and_valid_resource_names():
    profile = profile_config()
    assert profile["executor"] == "slurm"
    defaults = profile["default-resources"]
    assert defaults["slurm_account"] == "<YOUR_ACCOUNT>" and defaults["slurm_partition"] == "<YOUR_CPU_PARTITION>"
    assert "cpus_per_task" not in defaults, "cpus_per_task in default-resources overrides every rule's threads"
    for rule in GPU_RULES:
        assert profile["set-resources"][rule]["gpu"] == 1 and profile["set-resources"][rule]["cpus_per_gpu"] >= 1
    # train's memory and wall time come from config.yaml `training:`, not from the profile
    assert not {"mem_mb", "runtime"} & set(profile["set-resources"]["train"])


class FakeResources(dict):
    __getattr__ = dict.__getitem__


class FakeJob:
    """What the plugin's sbatch command builder reads from a Snakemake job."""

    def __init__(self, name: str, threads: int, resources: dict):
        self.name, self.threads, self.resources = name, threads, FakeResources(resources)

    def is_group(self) -> bool:
        return False


def sbatch_command(rule: str, rule_resources: dict, set_resources: dict | None = None) -> list[str]:
    """The sbatch command snakemake-executor-plugin-slurm builds for a job of `rule` under the
    profile (resource precedence as in Snakemake: set-resources > the rule's > default-resources)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    profile = profile_config()
    overrides = profile["set-resources"].get(rule, {}) if set_resources is None else set_resources
    job = FakeJob(rule, 1, {**profile["default-resources"], **rule_resources, **overrides})
    params = {
        "run_uuid": "uuid",
        "slurm_logfile": "log/%j.log",
        "comment_str": f"rule_{rule}",
        "account": f"-A {shlex.quote(str(job.resources['slurm_account']))}",
        "partition": f"-p {shlex.quote(str(job.resources['slurm_partition']))}",
        "workdir": "/work",
    }
    return shlex.split(get_submit_command(job, params) + set_gres_string(job))


def test_plugin_turns_the_profile_into_gpu_and_cpu_sbatch_flags():
    train = sbatch_command("train", {"gpu": 1, "mem_mb": 1234, "runtime": 7})  # rule train's own resources
    evaluate = sbatch_command("evaluate", {})
    synthesize = sbatch_command("synthesize", {})
    for argv in (train, evaluate):
        assert "--gpus=1" in argv and "--cpus-per-gpu=4" in argv and "<YOUR_GPU_PARTITION>" in argv, argv
        assert not any(a.startswith(("--cpus-per-task", "--ntasks", "--gres")) for a in argv), argv
    assert train[train.index("--mem") + 1] == "1234" and train[train.index("-t") + 1] == "7"
    assert not any(a.startswith(("--gpus", "--gres", "--cpus-per-gpu")) for a in synthesize), synthesize
    assert "--cpus-per-task=1" in synthesize and "<YOUR_CPU_PARTITION>" in synthesize
    # the README's GRES variant: gres instead of gpu, with gpu: 0 to cancel the rule's own gpu=1
    gres = sbatch_command("train", {"gpu": 1}, {"gres": "gpu:a100:1", "gpu": 0, "cpus_per_gpu": 4})
    assert "--gres=gpu:a100:1" in gres and "--cpus-per-gpu=4" in gres
    assert not any(a.startswith("--gpus") for a in gres), gres


def test_dry_run_with_the_slurm_profile_plans_the_workflow(tmp_path):
    config = {**TINY, "training": {**TINY["training"], "mem_mb": 1234, "runtime": 7}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--workflow-profile", str(PROFILE), cores=None, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_resources(result.stdout + result.stderr)
    assert len(jobs["synthesize"]) == sum("synthetic" in d for d in TINY["datasets"].values())
    assert len(jobs["train"]) == len(jobs["evaluate"]) >= 2
    check_planned_resources(jobs)
    assert all(r["mem_mb"] == "1234" and r["runtime"] == "7" for r in jobs["train"])
    assert not (tmp_path / "results").exists(), "a dry run wrote results"


def test_dry_run_of_the_paper_config_with_the_slurm_profile(tmp_path):
    if not PAPER_CONFIG.exists():
        pytest.skip(f"{PAPER_CONFIG.relative_to(REPO)} does not exist yet: nothing to dry-run")
    paper = yaml.safe_load(PAPER_CONFIG.read_text())
    for dataset in paper["datasets"].values():  # empty stand-ins for the real data folders
        if "raw_dir" in dataset:
            assert not Path(dataset["raw_dir"]).is_absolute(), "relative raw_dir expected"
            (tmp_path / dataset["raw_dir"]).mkdir(parents=True, exist_ok=True)
    result = snakemake(
        tmp_path, "-n", "--workflow-profile", str(PROFILE), "--configfile", str(PAPER_CONFIG), cores=None, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_resources(result.stdout + result.stderr)
    assert jobs["train"] and jobs["evaluate"] and len(jobs["fetch"]) == 63
    check_planned_resources(jobs)
    training = paper["training"]
    for res in jobs["train"]:
        assert res["mem_mb"] == str(training.get("mem_mb", 4000)) and res["runtime"] == str(training.get("runtime", 60))


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """A real run of one training through the profile, against the stand-in SLURM (2 jobs, about
    25 s each on 2 busy cores)."""
    from lesionmtl.datasets.synthetic import write_synthetic

    tmp = tmp_path_factory.mktemp("slurm")
    workdir, state, fake_bin, profile = tmp / "work", tmp / "state", tmp / "bin", tmp / "profile"
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
    # the repository's profile with its placeholders filled in, as a user would
    text = (PROFILE / "config.yaml").read_text()
    for placeholder, value in PLACEHOLDERS.items():
        assert placeholder in text
        text = text.replace(placeholder, value)
    profile.mkdir()
    (profile / "config.yaml").write_text(text)
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
        FAKE_SLURM_PARTITIONS="cpu_test,gpu_test",
    )
    result = snakemake(
        workdir,
        f"{RUN}/model.pt",
        "--workflow-profile",
        str(profile),
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
        timeout=240,
    )
    log = state / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return workdir, result, calls


def submissions(calls) -> dict[str, list[str]]:
    """{rule: sbatch arguments} from the recorded sbatch calls (the rule is in --comment)."""
    by_rule = {}
    for call in calls:
        if call["prog"] == "sbatch":
            argv = call["argv"]
            comment = argv[argv.index("--comment") + 1]
            rule = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", comment).group(1)
            assert rule not in by_rule, f"{rule} submitted twice"
            by_rule[rule] = argv
    return by_rule


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.slow
def test_real_run_through_the_profile_produces_the_target(slurm_run):
    workdir, result, calls = slurm_run
    assert result.returncode == 0, result.stderr[-5000:]
    assert (workdir / RUN / "model.pt").stat().st_size > 0
    assert json.loads((workdir / RUN / "run.json").read_text())
    # every job went through sbatch (none ran on the "login node"), and sacct polled them
    assert set(submissions(calls)) == CPU_RULES | {"train"}
    assert any(c["prog"] == "sacct" for c in calls), "job status was never polled with sacct"
    # the release zip was unpacked by the local rule `fetch`, on the "login node"
    assert (
        json.loads((workdir.parent / "HAM10000" / ".fetched" / "HAM10000_images_part_1.zip.json").read_text())[
            "files_unpacked"
        ]
        > 0
    )


@pytest.mark.slow
def test_training_job_asks_for_a_gpu_and_cpus_per_gpu(slurm_run):
    _, result, calls = slurm_run
    jobs = submissions(calls)
    assert "train" in jobs, result.stderr[-3000:]
    argv = jobs["train"]
    assert "--gpus=1" in argv and "--cpus-per-gpu=4" in argv, argv
    assert not any(a.startswith(("--cpus-per-task", "--ntasks", "--gres")) for a in argv), argv
    assert value(argv, "-p") == "gpu_test" and value(argv, "-A") == "lesion_acct"
    assert (value(argv, "--mem"), value(argv, "-t")) == ("1234", "7"), "train resources not from the config"
    # inside the allocation the plugin's job step asks srun for the GPU again
    steps = [c["argv"] for c in calls if c["prog"] == "srun" and "--gpus=1" in c["argv"]]
    assert len(steps) == 1 and "--cpus-per-gpu=4" in steps[0], steps


@pytest.mark.slow
def test_cpu_jobs_ask_for_no_gpu(slurm_run):
    workdir, result, calls = slurm_run
    jobs = submissions(calls)
    cpu_jobs = {rule: argv for rule, argv in jobs.items() if rule not in GPU_RULES}
    assert set(cpu_jobs) == CPU_RULES, result.stderr[-3000:]
    for rule, argv in cpu_jobs.items():
        assert not any(a.startswith(("--gpus", "--gres", "--cpus-per-gpu")) for a in argv), (rule, argv)
        assert "--cpus-per-task=1" in argv and "--ntasks=1" in argv, (rule, argv)
        assert value(argv, "-p") == "cpu_test" and value(argv, "-A") == "lesion_acct"
        assert (value(argv, "--mem"), value(argv, "-t")) == ("4000", "30")
    # every job ran where snakemake was started, through the slurm-jobstep executor
    for argv in jobs.values():
        assert value(argv, "-D") == str(workdir)
        wrapped = next(a for a in argv if a.startswith("--wrap="))
        assert "--executor slurm-jobstep" in wrapped and "--jobs 1" in wrapped
