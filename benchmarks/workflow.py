"""5. No-op Snakemake: start-up, a real no-op run of a tiny finished workflow, and the repo's DAG.

* ``startup_s``: ``python -m snakemake --version`` (interpreter + Snakemake import).
* ``tiny_noop_s``: ``python -m snakemake --cores 1`` on a two-rule workflow whose outputs all
  exist (a temporary folder); Snakemake answers "Nothing to be done".
* ``repo_dry_run_s`` (full run only): ``python -m snakemake -n --cores 1 --nolock`` in the repo
  root: parses the Snakefile, validates the config, builds the whole DAG and checks every file's
  state; it runs no job. ``repo_dag_s`` = that minus ``startup_s``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.machine import REPO
from benchmarks.timing import median, time_calls

TINY_SNAKEFILE = """\
rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    shell: "echo a > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: "cat {input} > {output}"
"""


def _snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise RuntimeError(f"{what} failed with exit code {proc.returncode}:\n{tail}")


def run(quick: bool, workdir: Path) -> dict:
    tiny = Path(workdir) / "tiny_workflow"
    tiny.mkdir(parents=True, exist_ok=True)
    (tiny / "Snakefile").write_text(TINY_SNAKEFILE)
    _check(_snakemake("--cores", "1", cwd=tiny), "tiny workflow (first, real run)")
    procs = []
    startup = time_calls(lambda: procs.append(_snakemake("--version", cwd=tiny)), repeat=1 if quick else 3)
    _check(procs[-1], "snakemake --version")
    noop = time_calls(lambda: procs.append(_snakemake("--cores", "1", cwd=tiny)), repeat=1 if quick else 3)
    _check(procs[-1], "tiny workflow no-op run")
    nothing = "Nothing to be done" in procs[-1].stdout + procs[-1].stderr
    figures = {"startup_s": median(startup), "tiny_noop_s": median(noop)}
    settings = {"repeats": len(noop), "tiny_noop_confirmed": nothing}
    notes = ["median of repeats; each is a fresh `python -m snakemake` process"]
    if not nothing:
        notes.append("WARNING: the tiny workflow's no-op run did not say 'Nothing to be done'")
    if quick:
        notes.append("--quick: repo-root dry run skipped")
    else:
        dry = []
        seconds = time_calls(lambda: dry.append(_snakemake("-n", "--cores", "1", "--nolock", cwd=REPO)))
        _check(dry[-1], "snakemake -n in the repo root")
        jobs = re.search(r"^total\s+(\d+)", dry[-1].stdout, re.MULTILINE)
        figures["repo_dry_run_s"] = seconds[0]
        figures["repo_dag_s"] = max(seconds[0] - figures["startup_s"], 1e-6)
        settings["repo_dry_run_jobs"] = int(jobs.group(1)) if jobs else 0
        notes.append(
            f"repo-root dry run of the default config.yaml: {settings['repo_dry_run_jobs']} job(s) pending "
            "in the current results/ (0: everything up to date)"
        )
    return {"figures": figures, "settings": settings, "notes": notes}
