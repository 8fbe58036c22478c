"""Where a finished workflow run's time went, from Snakemake's own log; not a timing of its own.

``python -m benchmarks.runlog [WORKDIR]`` reads the newest log of ``WORKDIR/.snakemake/log/`` in
which jobs ran (default: the current folder; "Nothing to be done" runs write logs without any) and
prints, as Markdown, the run's wall time (first to last time stamp) and per rule the jobs, their
job-seconds (start to finish of each job's last attempt, to Snakemake's 1-second stamps) and the
mean per job, and the epochs of the runs trained in it (their ``run.json``).
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
OUTPUT = re.compile(r"^\s+output: ([^,]+)")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def job_spans(log: Path) -> tuple[list[tuple[str, float, str]], float]:
    """(rule, seconds, first output) of every finished job of ``log``, and the log's wall seconds
    (0 and no jobs for a log without time stamps)."""
    stamp = first = None
    started: dict[str, tuple[datetime, str]] = {}
    pending = None  # (start stamp, first output) of a job whose jobid line is still to come
    spans = []
    for line in log.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(" ".join(match[1].split()), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
        elif STARTED.match(line):
            pending = (stamp, "")
        elif pending is not None and (match := OUTPUT.match(line)):
            pending = (pending[0], match[1])
        elif pending is not None and (match := JOBID.match(line)):
            started[match[1]], pending = pending, None
        elif match := FINISHED.match(line):
            begun, output = started.pop(match[1])
            spans.append((match[2], (stamp - begun).total_seconds(), output))
    return spans, (stamp - first).total_seconds() if first else 0.0


def summary(workdir: Path) -> str:
    """The Markdown summary of the newest log of ``workdir`` in which jobs ran."""
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True)
    for log in logs:
        spans, wall = job_spans(log)
        if spans:
            break
    else:
        raise ValueError(f"{workdir}: no Snakemake log in which a job ran (.snakemake/log/)")
    per_rule: dict[str, list[float]] = {}
    for rule, seconds, _ in spans:
        per_rule.setdefault(rule, []).append(seconds)
    records = [workdir / Path(output).parent / "run.json" for rule, _, output in spans if rule == "train"]
    epochs = [json.loads(record.read_text())["epochs_run"] for record in records if record.is_file()]
    lines = [
        f"{log}: wall {wall:.0f} s, {len(spans)} jobs, {sum(s for _, s, _ in spans):.0f} job-seconds; "
        f"{len(epochs)} runs trained, {sum(epochs)} epochs",
        "",
        "| rule | jobs | job-seconds | per job (s) |",
        "|---|---:|---:|---:|",
    ]
    for rule, seconds in sorted(per_rule.items(), key=lambda item: -sum(item[1])):
        lines.append(f"| {rule} | {len(seconds)} | {sum(seconds):.0f} | {sum(seconds) / len(seconds):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
