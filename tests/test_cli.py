"""The installed `lesionmtl` console script answers --version and --help."""

import subprocess
import sys

import lesionmtl


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lesionmtl.cli", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"lesionmtl {lesionmtl.__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0 and "usage: lesionmtl" in helped.stdout


def test_unknown_subcommand_fails():
    result = run_cli("no-such-command")
    assert result.returncode == 2 and "invalid choice" in result.stderr
