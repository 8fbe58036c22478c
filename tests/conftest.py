"""What the tests share, imported one way (``from tests.conftest import ...``): the repository, the
tiny workflow configuration and a user's own-data configuration, one way to run Snakemake and one
to run the command line, small geometry helpers, and what is built once per session: the tiny
workflow run to the end (``finished_run``) and the pristine datasets the bad-input tests damage."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lesionmtl.cli
from lesionmtl.config import load_config
from tests.bad_input import pristine

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = Path(__file__).resolve().with_name("tiny_config.yaml")


def tiny_config() -> dict:
    """A fresh copy of the tiny workflow configuration (tests change their copy freely)."""
    return yaml.safe_load(TINY_CONFIG.read_text())


TINY = tiny_config()


def write_config(workdir: Path, config: dict) -> None:
    """``config`` as the ``config.yaml`` of a working directory (the Snakefile's default config file)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def reversed_keys(value: object) -> object:
    """``value`` with every mapping's keys in reverse order, recursively (the same configuration)."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def own_data_config(raw_dir: Path, **dataset: object) -> dict:
    """A user's own ``recist_table`` dataset in ``raw_dir`` (settings in ``dataset`` override),
    A1 for the main study, 1 epoch: what the own-data tests change their copy of."""
    return {
        "datasets": {
            "own": {
                "format": "recist_table",
                "raw_dir": str(raw_dir),
                "patch_size": 32,
                "k": 2,
                "split_fractions": [0.5, 0.25, 0.25],
                **dataset,
            }
        },
        "experiment": {"seeds": [0], "alpha_seg": 50, "alpha_cls": 1, "studies": {"main": {"models": ["a1"]}}},
        "training": {"encoder": "resnet18", "encoder_weights": None, "epochs": 1, "patience": 1, "batch_size": 4, "lr": 0.001},
        "pseudolabels": {"grabcut_iterations": 1, "shards": 1},
        "report": {"figure_lesions": 2},
    }  # fmt: skip


def n_runs(config: dict) -> int:
    """How many training runs ``config`` asks for, over all datasets."""
    workflow = load_config(config)
    return sum(len(workflow.experiment_runs(ds)) for ds in workflow.datasets)


def clean_env() -> dict:
    """This environment without SLURM's own variables (the tests may themselves run inside a SLURM job)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))
        and k not in ("SNAKEMAKE_SLURM_PARTITIONS", "SNAKEMAKE_PROFILE")  # a user's own profile
    }


def snakemake(
    workdir: Path,
    *args: str,
    env: dict | None = None,
    cores: int | None = 2,
    snakefile: Path = REPO / "Snakefile",
    timeout: int = 900,
    start_new_session: bool = False,
) -> subprocess.CompletedProcess:
    """``python -m snakemake`` on ``snakefile`` in ``workdir``; ``cores=None`` leaves them to a profile.
    ``start_new_session``: in a process group of its own, which a killed job may take down with it."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir)]
    cmd += ["--cores", str(cores)] if cores else []
    return subprocess.run(
        [*cmd, *args],
        cwd=workdir,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=start_new_session,
    )


def cli(*args: str, cwd: Path | None = None, process: bool = False) -> subprocess.CompletedProcess:
    """The ``lesionmtl`` command line in ``cwd``: its ``main()`` here, with what it prints and its exit
    status as a process would give them (saving each call the seconds of importing torch afresh);
    ``process=True``: ``python -m lesionmtl.cli`` in a process of its own."""
    if process:
        return subprocess.run(
            [sys.executable, "-m", "lesionmtl.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
        )
    out, err, before = io.StringIO(), io.StringIO(), Path.cwd()
    try:
        os.chdir(cwd or before)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = lesionmtl.cli.main(list(args))
            except SystemExit as exit_:  # argparse, and a message the interpreter would print
                status = exit_.code if isinstance(exit_.code, int) or exit_.code is None else 1
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["lesionmtl", *args], status or 0, out.getvalue(), err.getvalue())


def angle_diff(a: float, b: float) -> float:
    """Distance between two axis directions in degrees, modulo 180."""
    return abs((a - b + 90.0) % 180.0 - 90.0)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def planned_reasons(result: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """{reason: rules} from the 'Reasons' summary of a dry run."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reasons: dict[str, set[str]] = {}
    lines = (result.stdout + result.stderr).splitlines()
    for header, rules in zip(lines, lines[1:]):
        if re.fullmatch(r" {4}\S.*:", header) and rules.startswith(" " * 8):
            reasons[header.strip().rstrip(":")] = set(rules.strip().split(", "))
    return reasons


# Session and module fixtures are built once per pytest-xdist worker that needs them: the tests of
# each expensive one go to one worker (``--dist loadgroup``, pyproject.toml), so it is built once.
SHARED_FIXTURES = ("finished_run", "pristine_datasets")


def shared_group(item: pytest.Item) -> str | None:
    """The worker group of a test: the session fixture it shares, else its module where it uses a
    module-scoped fixture, else none (any worker)."""
    for name in SHARED_FIXTURES:
        if name in item.fixturenames:
            return name
    fixtures = item._fixtureinfo.name2fixturedefs.values()
    if any(defs[-1].scope == "module" for defs in fixtures):
        return item.module.__name__
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of each shared fixture, and put the ``slow`` tests of no group first.

    xdist hands out the groups largest first, then the tests of no group in collection order, one by
    one as workers free up: a long test left for last keeps one worker busy while the other idles.
    Grouped tests keep their place (moving one would split its module's fixture under ``-n 0``)."""
    for item in items:
        if group := shared_group(item):
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: not (item.get_closest_marker("slow") and not item.get_closest_marker("xdist_group")))


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A working directory where the tiny workflow ran to the end (with its ``config.yaml``).

    Shared by every test of the session: a test that changes its config or files puts them back.
    """
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, TINY)
    dry = planned_jobs(snakemake(workdir, "-n"))
    assert dry["train"] == dry["evaluate"] == n_runs(TINY) == 11
    assert dry["synthesize"] == 2 and dry["report_table1"] == 1
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture(scope="session")
def pristine_datasets(tmp_path_factory) -> dict[str, Path]:
    """The bad-input catalogue's pristine datasets (tests/bad_input.py SYNTH), written once: tests
    damage copies of them, never them."""
    return pristine(tmp_path_factory.mktemp("pristine"))
