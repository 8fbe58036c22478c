"""How the workflow is installed: the `lesionmtl` console script and the one conda environment."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lesionmtl
from tests.conftest import REPO, snakemake


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_declared_console_script_exists():
    scripts = pyproject()["project"]["scripts"]
    assert "lesionmtl" in scripts
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), f"{name} = {target}"


def test_the_installed_command_answers_its_version():
    # the script pip wrote next to this interpreter (the package is installed, editable or not)
    command = Path(sys.executable).parent / "lesionmtl"
    assert command.exists(), f"{command} missing: install the package with pip install -e ."
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"lesionmtl {lesionmtl.__version__}"


def test_the_conda_environment_installs_this_checkout():
    # conda runs pip in the environment file's folder: relative paths start there
    env_file = REPO / "envs" / "lesionmtl.yaml"
    pip = next(d["pip"] for d in yaml.safe_load(env_file.read_text())["dependencies"] if isinstance(d, dict))
    editable = [entry.split(maxsplit=1)[1] for entry in pip if entry.startswith("-e ")]
    assert len(editable) == 1 and (env_file.parent / editable[0]).resolve() == REPO
    assert (REPO / "pyproject.toml").exists()


def test_no_rule_asks_snakemake_for_a_conda_environment(tmp_path):
    # the rules run in the environment Snakemake runs in; Snakemake's --list-conda-envs needs no
    # conda when there are none to list (and fails without conda when there are)
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    result = snakemake(tmp_path, "--list-conda-envs", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    listing = result.stdout.strip().splitlines()
    assert listing[-1].split() == ["environment", "container", "location"], listing
