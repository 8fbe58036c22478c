"""Stand-ins for the SLURM commands that snakemake-executor-plugin-slurm (2.8) calls.

Each command in this folder (``sbatch``, ``srun``, ``sacct``, ``squeue``, ``scancel``, ``sinfo``,
``sacctmgr``, ``scontrol``) is a three-line script that calls ``main(<its name>, argv)`` here. Put
the folder first on ``PATH`` and set ``FAKE_SLURM_DIR`` to an empty directory. Then:

- every call is appended as one JSON line ``{"prog", "argv", "cwd"}`` to ``$FAKE_SLURM_DIR/calls.jsonl``;
- ``sbatch`` checks its options against a list of real ``sbatch`` options (anything else fails, as
  with real sbatch), takes the next job id, RUNS the job synchronously (the ``--wrap`` command
  through ``/bin/sh``, or the script on stdin), in ``-D``'s directory, with the environment and
  the ``SLURM_*`` variables a job sees (``SLURM_GPUS`` for ``--gpus``), output to ``--output``
  (``%j`` replaced), records the exit code and prints the job id (just the id with ``--parsable``,
  else ``Submitted batch job <id>``). The job is already over when sbatch returns: the plugin
  then finds it COMPLETED at its first status check, which keeps tests fast;
- ``FAKE_SLURM_TIME_OUT_ONCE`` (optional, comma-separated ``--comment`` prefixes, e.g. ``rule_train``):
  the first job whose comment starts with one of them is not run and ends in state TIMEOUT, as
  a job that ran out of its ``-t`` would;
- ``sacct`` / ``squeue`` report recorded jobs, filtered by ``--name`` / ``-j``, in the
  ``--format`` asked for: COMPLETED for exit code 0, FAILED otherwise (CANCELLED after scancel);
- ``srun`` (the plugin's job step: ``srun -n1 --cpu-bind=q --cpus-per-... <command>``) drops its
  options and executes the command;
- ``sacctmgr`` lists the accounts in ``$FAKE_SLURM_ACCOUNTS`` (comma-separated; the plugin
  validates ``slurm_account`` against it), ``sinfo -o %P`` the partitions in
  ``$FAKE_SLURM_PARTITIONS`` (the first is the default, marked ``*``).

Only the standard library is used, so any ``python3`` can run these.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# sbatch options that take a value (long form, and the short forms the plugin uses).
SBATCH_VALUE_OPTIONS = {
    "--job-name",
    "-J",
    "--output",
    "-o",
    "--error",
    "-e",
    "--comment",
    "--account",
    "-A",
    "--partition",
    "-p",
    "--time",
    "-t",
    "--mem",
    "--mem-per-cpu",
    "--mem-per-gpu",
    "--ntasks",
    "-n",
    "--ntasks-per-node",
    "--ntasks-per-gpu",
    "--cpus-per-task",
    "-c",
    "--cpus-per-gpu",
    "--gpus",
    "-G",
    "--gpus-per-node",
    "--gpus-per-task",
    "--gres",
    "--constraint",
    "-C",
    "--qos",
    "--nodes",
    "-N",
    "--clusters",
    "-M",
    "--chdir",
    "-D",
    "--wrap",
    "--array",
    "-a",
    "--exclude",
    "-x",
    "--reservation",
    "--export",
    "--dependency",
    "-d",
    "--mail-type",
    "--mail-user",
    "--tmp",
    "--licenses",
    "-L",
    "--nodelist",
    "-w",
    "--begin",
    "--signal",
}
SBATCH_FLAG_OPTIONS = {"--parsable", "--requeue", "--no-requeue", "--exclusive", "--hold", "-H"}


def state_dir() -> Path:
    path = Path(os.environ["FAKE_SLURM_DIR"])
    (path / "jobs").mkdir(parents=True, exist_ok=True)
    return path


def record(prog: str, argv: list[str], **extra) -> None:
    line = json.dumps({"prog": prog, "argv": argv, "cwd": os.getcwd(), "time": round(time.time(), 3), **extra})
    with open(state_dir() / "calls.jsonl", "a") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(line + "\n")


def next_job_id() -> int:
    counter = state_dir() / "last_job_id"
    with open(counter, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        last = int(handle.read().strip() or 4000)
        handle.seek(0)
        handle.truncate()
        handle.write(str(last + 1))
    return last + 1


def write_job(job_id: int, **fields) -> None:
    path = state_dir() / "jobs" / f"{job_id}.json"
    job = json.loads(path.read_text()) if path.exists() else {"JobIdRaw": str(job_id)}
    job.update(fields)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(job))
    tmp.replace(path)


def all_jobs() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((state_dir() / "jobs").glob("*.json"))]


def parse_sbatch(argv: list[str]) -> tuple[dict, list[str]]:
    """{option: value} (flags map to True) and the positional arguments (script and its args)."""
    options, positional, i = {}, [], 0
    while i < len(argv):
        arg = argv[i]
        if positional or not arg.startswith("-") or arg == "-":
            positional.append(arg)
        elif arg in SBATCH_FLAG_OPTIONS:
            options[arg] = True
        elif "=" in arg and arg.split("=", 1)[0] in SBATCH_VALUE_OPTIONS:
            name, value = arg.split("=", 1)
            options[name] = value
        elif arg in SBATCH_VALUE_OPTIONS:
            if i + 1 >= len(argv):
                raise SystemExit(f"sbatch: option '{arg}' requires an argument")
            options[arg] = argv[i + 1]
            i += 1
        else:
            raise SystemExit(f"sbatch: unrecognized option '{arg}'")
        i += 1
    return options, positional


def first(options: dict, *names: str, default=None):
    return next((options[n] for n in names if n in options), default)


def times_out(comment: str) -> bool:
    """Whether this job is the first of its kind named in FAKE_SLURM_TIME_OUT_ONCE (then remembered)."""
    prefixes = [p for p in os.environ.get("FAKE_SLURM_TIME_OUT_ONCE", "").split(",") if p]
    prefix = next((p for p in prefixes if comment.startswith(p)), None)
    marker = state_dir() / f"timed_out_{prefix}"
    if prefix is None or marker.exists():
        return False
    marker.touch()
    return True


def sbatch(argv: list[str]) -> int:
    try:
        options, positional = parse_sbatch(argv)
    except SystemExit as error:
        record("sbatch", argv, error=str(error))
        raise
    wrap = first(options, "--wrap")
    if wrap is None:  # a batch script: a file, or stdin (the plugin passes /dev/stdin)
        script = sys.stdin.read() if positional in ([], ["/dev/stdin"]) else Path(positional[0]).read_text()
    else:
        if positional:
            raise SystemExit("sbatch: error: script arguments not permitted with --wrap option")
        script = f"#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{wrap}\n"
    if not script.startswith("#!"):
        raise SystemExit("sbatch: error: This does not look like a batch script.")
    if "--array" in options:
        raise SystemExit("sbatch: the fake sbatch does not run array jobs")

    job_id = next_job_id()
    record("sbatch", argv, job_id=job_id)
    name = first(options, "--job-name", "-J", default="wrap")
    workdir = first(options, "--chdir", "-D", default=os.getcwd())
    output = first(options, "--output", "-o", default="slurm-%j.out").replace("%j", str(job_id))
    output = Path(workdir, output)
    write_job(
        job_id,
        JobName=name,
        State="RUNNING",
        Account=first(options, "--account", "-A", default=""),
        Partition=first(options, "--partition", "-p", default=""),
        NodeList="fakenode1",
    )

    env = dict(os.environ) if first(options, "--export", default="ALL").startswith("ALL") else {}
    env.update(
        SLURM_JOB_ID=str(job_id),
        SLURM_JOBID=str(job_id),
        SLURM_JOB_NAME=name,
        SLURM_SUBMIT_DIR=os.getcwd(),
        SLURM_CLUSTER_NAME="fakecluster",
        SLURM_NTASKS="1",
        SLURM_JOB_NODELIST="fakenode1",
        SLURMD_NODENAME="fakenode1",
    )
    for option, variable in (
        ("--gpus", "SLURM_GPUS"),
        ("--cpus-per-gpu", "SLURM_CPUS_PER_GPU"),
        ("--cpus-per-task", "SLURM_CPUS_PER_TASK"),
        ("--mem", "SLURM_MEM_PER_NODE"),
    ):
        if option in options:
            env[variable] = options[option]
    if "--gres" in options:
        env["SLURM_JOB_GRES"] = options["--gres"]
    if times_out(first(options, "--comment", default="")):
        write_job(job_id, State="TIMEOUT", ExitCode="0:15", Elapsed="0")
        print(job_id if "--parsable" in options else f"Submitted batch job {job_id}")
        return 0
    script_path = state_dir() / "jobs" / f"{job_id}.sh"
    script_path.write_text(script)
    script_path.chmod(0o755)
    started = time.time()
    with open(output, "w") as out:
        exit_code = subprocess.call(
            [str(script_path)], cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    write_job(
        job_id,
        State="COMPLETED" if exit_code == 0 else "FAILED",
        ExitCode=f"{exit_code}:0",
        Elapsed=f"{time.time() - started:.0f}",
    )
    print(job_id if "--parsable" in options else f"Submitted batch job {job_id}")
    return 0


def option_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "=") or (len(name) == 2 and arg.startswith(name) and len(arg) > 2):
                return arg.split("=", 1)[1] if "=" in arg else arg[2:]
    return None


def report_jobs(argv: list[str], default_format: str, delimiter: str = "|") -> int:
    """sacct/squeue: one line per matching job, fields from --format (sacct) or %i|%T (squeue)."""
    name = option_value(argv, "--name")
    ids = option_value(argv, "-j", "--jobs")
    wanted = set(ids.split(",")) if ids else None
    fmt = option_value(argv, "--format", "-o") or default_format
    if fmt.startswith("%"):  # squeue style: %i|%T
        fields = [{"%i": "JobIdRaw", "%T": "State", "%j": "JobName"}[f] for f in fmt.split("|")]
    else:  # sacct style: JobIdRaw,State or Reason or nodelist%-256
        fields = [f.split("%")[0] for f in fmt.split(",")]
    for job in all_jobs():
        if name is not None and job["JobName"] != name:
            continue
        if wanted is not None and job["JobIdRaw"] not in wanted:
            continue  # job steps ("<id>.0") are not recorded: nothing to say about them
        values = {k.lower(): v for k, v in job.items()}
        print(delimiter.join(str(values.get(f.lower(), "")) for f in fields))
    return 0


def main(prog: str, argv: list[str]) -> int:
    if prog == "sbatch":
        return sbatch(argv)
    record(prog, argv)
    if prog == "srun":  # options are attached (--opt=value, -n1); the command follows them
        command = list(argv)
        while command and command[0].startswith("-"):
            command.pop(0)
        if not command:
            raise SystemExit("srun: fatal: No command given to execute.")
        os.execvp(command[0], command)
    if prog == "sacct":
        return report_jobs(argv, "JobIdRaw,State")
    if prog == "squeue":
        return report_jobs(argv, "%i|%T")
    if prog == "scancel":
        for job_id in (a for a in argv if not a.startswith("-")):
            write_job(int(job_id.split("_")[0]), State="CANCELLED")
        return 0
    if prog == "sinfo":
        partitions = os.environ.get("FAKE_SLURM_PARTITIONS", "cpu,gpu").split(",")
        print("PARTITION")
        print("\n".join(p + ("*" if i == 0 else "") for i, p in enumerate(partitions)))
        return 0
    if prog == "sacctmgr":
        for account in os.environ.get("FAKE_SLURM_ACCOUNTS", "").split(","):
            if account:
                print(f"{account:>256}")
        return 0
    if prog == "scontrol":
        if argv[:2] == ["show", "config"]:
            print("MaxArraySize            = 1001\nMinJobAge               = 300 sec")
        return 0
    raise SystemExit(f"fake_slurm: unknown command {prog}")
