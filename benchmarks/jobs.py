"""6. Where a workflow job's time goes, per rule: start-up, imports, data load, work, write.

A small workflow runs once (untimed) with ``--skip-script-cleanup``: Snakemake then leaves each
job's script in ``.snakemake/scripts/``, the workflow script behind a preamble that unpickles the
job's real ``snakemake`` object. The first job of each rule is then run again by itself, in a fresh
process, through ``benchmarks/jobclock.py``, which charges each moment to imports, load (the
readers), write (``lesionmtl.io.atomic_path``) or work; start-up is the process's wall time minus
those (interpreter start and exit, the clock itself). What Snakemake adds around a job (its own
start-up, planning) is not in these figures.

Full run: one dataset of the default ``config.yaml`` (synth_ham, its sizes and training settings),
A1+L (the multi-task model; one job of each rule is timed), seed 0, up to the default target.
``--quick``: a smaller synth_ham, 1 epoch, up to Table 1.
"""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.machine import REPO

PHASES = ("startup", "imports", "load", "work", "write")


def config(quick: bool) -> dict:
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    ham = default["datasets"]["synth_ham"]
    if quick:
        ham = {**ham, "synthetic": {**ham["synthetic"], "n_cases": 30}, "k": 3}
        default["training"].update(epochs=1, patience=1)
    default["datasets"] = {"synth_ham": ham}
    default["experiment"].update(seeds=[0], studies={"main": {"models": ["a1l"]}})
    default["pseudolabels"]["shards"] = 1
    return default


def job_of(script: Path) -> tuple[str, dict[str, str]]:
    """The rule and wildcards of a script Snakemake left behind (its preamble's pickled ``snakemake``)."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "snakemake":
            job = pickle.loads(node.value.args[0].value)
            return job.rule, dict(job.wildcards.items())
    raise ValueError(f"{script}: no Snakemake preamble")


def clock(script: Path, workdir: Path) -> dict[str, float]:
    """Phase seconds of one job's script, run again by itself in ``workdir``."""
    out = workdir / "jobclock.json"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "jobclock.py"), str(script), str(out)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} failed again by itself:\n{(proc.stdout + proc.stderr)[-2000:]}")
    phases = json.loads(out.read_text())
    seconds = {phase: float(phases.get(phase, 0.0)) for phase in PHASES[1:]}
    return {"startup": wall - sum(seconds.values()), **seconds, "total": wall}


def run(quick: bool, workdir: Path) -> dict:
    work = Path(workdir) / "jobs_workflow"
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config(quick)))
    target = ["results/tables/table1.md"] if quick else []
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work)]
    done = subprocess.run(
        [*cmd, "--cores", "2", "--skip-script-cleanup", *target], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"the jobs workflow failed:\n{(done.stdout + done.stderr)[-3000:]}")
    first: dict[str, tuple[Path, dict]] = {}
    for script in sorted((work / ".snakemake" / "scripts").glob("*.py"), key=lambda p: p.stat().st_mtime):
        rule, wildcards = job_of(script)
        first.setdefault(rule, (script, wildcards))
    figures = {}
    for rule, (script, _) in first.items():
        for phase, seconds in clock(script, work).items():
            figures[f"{rule}_{phase}_s"] = round(seconds, 3)
    return {
        "figures": figures,
        "settings": {"jobs": {rule: wildcards for rule, (_, wildcards) in first.items()}, "config": config(quick)},
        "notes": [
            "one job per rule, run again by itself in a fresh process; startup = wall - the phases "
            "(interpreter start and exit); a phase a job does not have reads 0"
        ],
    }
