"""Stage code hashes follow the import graph: an edit to a module a stage runs reruns that stage
and what depends on it, and nothing upstream."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lesionmtl import provenance
from tests.conftest import REPO, clean_env, planned_jobs, planned_reasons, snakemake

SCRIPTS = REPO / "workflow_scripts"


def test_the_evaluation_job_imports_no_torch():
    code = "import sys, lesionmtl.evaluation, lesionmtl.io; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_a_scripts_modules_are_what_it_imports_transitively():
    train = provenance.script_modules(SCRIPTS / "train.py")
    # training.py imports models.py, which imports the architecture registry
    assert {"lesionmtl.training", "lesionmtl.models", "lesionmtl.architectures", "lesionmtl.devices"} <= set(train)
    assert "lesionmtl.metrics" not in train and "lesionmtl.logs" not in train
    # scoring needs no torch: the train job predicted
    evaluate = provenance.script_modules(SCRIPTS / "evaluate.py")
    assert "lesionmtl.metrics" in evaluate and not {"lesionmtl.inference", "lesionmtl.models"} & set(evaluate)
    # an import inside a function counts: the parameter table builds the models
    assert "lesionmtl.models" in provenance.script_modules(SCRIPTS / "report.py")
    # a relative import inside a subpackage resolves against it
    fetch = provenance.script_modules(SCRIPTS / "fetch.py")
    assert {"lesionmtl.fetching.releases", "lesionmtl.datasets.readers.deeplesion"} <= set(fetch)


def test_the_hash_changes_with_the_code_it_covers_only(tmp_path, monkeypatch):
    copy = tmp_path / "lesionmtl"
    shutil.copytree(provenance.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", copy)
    before = {s.name: provenance.code_hash(s) for s in SCRIPTS.glob("*.py")}
    assert before == {s.name: provenance.code_hash(s) for s in SCRIPTS.glob("*.py")}  # stable
    with open(copy / "clustering.py", "a") as handle:
        handle.write("\n# an edit\n")
    changed = {name for name, h in before.items() if provenance.code_hash(SCRIPTS / name) != h}
    assert changed == {"cluster.py", "train.py"}  # a train job predicts, pairing ACoseg partners by shape features


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The workflow and its package, copied so that a test can edit the package's modules."""
    copy = tmp_path_factory.mktemp("repo")
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, copy / name)
    for name in ("rules", "workflow_scripts", "envs", "profiles", "lesionmtl"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def dry_run_from(copy: Path, workdir: Path):
    env = {**clean_env(), "PYTHONPATH": str(copy)}  # the copy's package, not the installed one
    return snakemake(workdir, "-n", snakefile=copy / "Snakefile", env=env)


UPSTREAM = {"synthesize", "ingest", "pseudolabel_shard", "pseudolabels"}
REPORTS = "report_*"


@pytest.mark.parametrize(
    ("module", "stages"),
    [
        ("clustering.py", {"cluster", "train"}),
        ("models.py", {"train", REPORTS}),
        ("runspec.py", {REPORTS}),
    ],
)
def test_editing_a_module_reruns_the_stages_importing_it_and_their_downstream(finished_run, repo_copy, module, stages):
    control = dry_run_from(repo_copy, finished_run)
    assert "Nothing to be done" in control.stdout + control.stderr, control.stdout[-3000:]

    path = repo_copy / "lesionmtl" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        result = dry_run_from(repo_copy, finished_run)
    finally:
        path.write_text(original)
    jobs, reasons = planned_jobs(result), planned_reasons(result)

    # A job whose input another job updates is not checked for changed params: a stage downstream
    # of a rerun stage (evaluate after train) is listed under "input files updated" only
    changed = reasons.pop("params have changed since last execution")
    assert changed and {REPORTS if rule.startswith("report_") else rule for rule in changed} <= stages
    assert set(reasons) <= {"input files updated by another job"}  # the rest is downstream of them
    planned = {REPORTS if rule.startswith("report_") else rule for rule in jobs}
    assert stages <= planned and not UPSTREAM & planned
    assert jobs["all"] == 1 and "report_table1" in jobs
