"""Bad input through a real `snakemake` run (one catalogue entry per dataset), and the one-line
error of workflow scripts and the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from lesionmtl import cli
from lesionmtl.datasets import DataError
from lesionmtl.errors import ConfigError
from lesionmtl.fetching import releases
from tests.bad_input import CASES, PATCH, SYNTH, THROUGH_SNAKEMAKE, damaged_copy
from tests.conftest import REPO, snakemake, tiny_config, write_config


def test_one_line_per_failed_ingest_reaches_the_console(tmp_path, pristine_datasets):
    datasets = {}
    for case in (c for c in CASES if c.id in THROUGH_SNAKEMAKE):
        raw = damaged_copy(case, pristine_datasets, tmp_path / case.id)
        datasets[case.dataset] = {"format": SYNTH[case.dataset][0], "raw_dir": str(raw), "patch_size": PATCH, "k": 2}
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, {**tiny_config(), "datasets": datasets})
    # The repository's workflow profile (profiles/default: show-failed-logs) applies, as for a user.
    profile = ["--workflow-profile", str(REPO / "profiles" / "default"), "--keep-going"]
    result = snakemake(work, *profile, *[f"results/{name}/lesions.parquet" for name in datasets], timeout=600)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    for name, case in zip(datasets, (c for c in CASES if c.id in THROUGH_SNAKEMAKE)):
        log = (work / "results" / "logs" / "ingest" / f"{name}.log").read_text().splitlines()
        last = log[-1]
        assert last.startswith("lesionmtl: ") and all(needle in last for needle in case.stop), log[-5:]
        assert any(line.startswith("Traceback") for line in log)  # kept, before the line
        assert last in console.splitlines()
        assert not (work / "results" / name / "lesions.parquet").exists()


SCRIPT = """
import sys
from lesionmtl.logs import log_to
from lesionmtl.datasets import DataError
log_to(sys.argv[1])
if sys.argv[2] == "known":
    raise DataError("DL_info.csv", "Images_png/000003_01_01/004.png is not a 16-bit grey PNG (truncated?)", row=8)
raise KeyError("a bug")
"""


@pytest.mark.parametrize("kind", ["known", "bug"])
def test_workflow_script_ends_a_known_error_with_one_line(kind, tmp_path):
    log = tmp_path / "job.log"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(log), kind], capture_output=True, text=True, timeout=60)
    lines = log.read_text().splitlines()
    assert result.returncode == 1 and lines[0] == "Traceback (most recent call last):"
    if kind == "known":
        expected = (
            "lesionmtl: DL_info.csv, row 8: Images_png/000003_01_01/004.png is not a 16-bit grey PNG (truncated?)"
        )
        assert result.stderr.splitlines() == [expected] and lines[-1] == expected
    else:
        assert result.stderr == "" and lines[-1] == "KeyError: 'a bug'"


def test_command_line_ends_a_known_error_with_one_line(monkeypatch, capsys):
    def fail(args):
        raise DataError("HAM10000_metadata.csv", "no segmentation file for ISIC_0024310\nnothing else", row=6)

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.SUBCOMMANDS, "fail", cli.Subcommand("fails", lambda parser: None, fail))
    monkeypatch.setitem(cli.SUBCOMMANDS, "bug", cli.Subcommand("has a bug", lambda parser: None, bug))
    assert cli.main(["fail"]) == 1
    err = capsys.readouterr().err
    assert err == "lesionmtl: HAM10000_metadata.csv, row 6: no segmentation file for ISIC_0024310 nothing else\n"
    with pytest.raises(KeyError):
        cli.main(["bug"])


UNSAFE = '!!python/object/apply:os.system ["touch {marker}"]'


def test_yaml_is_read_safely(tmp_path, monkeypatch):
    """A Python tag in a release definition (LESIONMTL_SOURCES) or in config.yaml runs nothing."""
    marker = tmp_path / "executed"
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"ham: {UNSAFE.format(marker=marker)}\n")
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    with pytest.raises(ConfigError, match="sources.yaml: unreadable release definitions"):
        releases.release("ham")
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(tiny_config()) + f"extra: {UNSAFE.format(marker=marker)}\n")
    result = snakemake(work, "-n", timeout=300)
    assert result.returncode != 0 and not marker.exists()


def test_both_profiles_show_the_failed_job_log():
    for profile in ("default", "slurm"):
        assert yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())["show-failed-logs"] is True
