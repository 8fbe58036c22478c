"""Where a finished workflow run's time went, from Snakemake's own log; not a timing of its own.

``python -m benchmarks.runlog [WORKDIR]`` reads the newest ``WORKDIR/.snakemake/log/*.snakemake.log``
(default: the current folder) and prints, as Markdown, the run's wall time (first to last time
stamp) and per rule the jobs, their job-seconds (start to finish of each job, to Snakemake's
1-second stamps) and the mean per job, and the epochs the trained runs took (their ``run.json``).
benchmarks/README.md "The default snakemake, measured" quotes it.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def job_spans(log: Path) -> tuple[list[tuple[str, float]], float]:
    """(rule, seconds) of every finished job of ``log``, and the log's wall seconds."""
    stamp = first = None
    started: dict[str, datetime] = {}
    pending = None  # a rule whose start was stamped, waiting for its jobid line
    spans = []
    for line in log.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(" ".join(match[1].split()), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
        elif match := STARTED.match(line):
            pending = stamp
        elif (match := JOBID.match(line)) and pending is not None:
            started[match[1]] = pending
            pending = None
        elif match := FINISHED.match(line):
            spans.append((match[2], (stamp - started.pop(match[1])).total_seconds()))
    if first is None:
        raise ValueError(f"{log}: no time stamps; not a Snakemake log")
    return spans, (stamp - first).total_seconds()


def summary(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise SystemExit(f"{workdir}: no .snakemake/log/*.snakemake.log (run snakemake there first)")
    spans, wall = job_spans(logs[-1])
    per_rule: dict[str, list[float]] = {}
    for rule, seconds in spans:
        per_rule.setdefault(rule, []).append(seconds)
    epochs = [json.loads(p.read_text())["epochs_run"] for p in workdir.glob("results/*/runs/*/run.json")]
    lines = [
        f"{logs[-1]}: wall {wall:.0f} s, {len(spans)} jobs, {sum(s for _, s in spans):.0f} job-seconds; "
        f"{len(epochs)} trained runs, {sum(epochs)} epochs",
        "",
        "| rule | jobs | job-seconds | per job (s) |",
        "|---|---:|---:|---:|",
    ]
    for rule, seconds in sorted(per_rule.items(), key=lambda item: -sum(item[1])):
        lines.append(f"| {rule} | {len(seconds)} | {sum(seconds):.0f} | {sum(seconds) / len(seconds):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
