"""Run the benchmark suite, print a table and write one JSON file per run to results/bench/.

python -m benchmarks            # full suite (under 5 minutes on a 2-core CPU)
python -m benchmarks --quick    # smaller sizes, for the test (under a minute)
python benchmarks/run.py ...    # the same
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from the repo root, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[1])

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: no progress bars in the table

from benchmarks import convs, gpu, grabcut, ingest, jobs, metrics, training, workflow  # noqa: E402
from benchmarks.machine import REPO, load_average, machine_facts  # noqa: E402

BENCHMARKS = {
    "training": "training throughput, A1+L, 128x128 (ours) vs 384x480 (original)",
    "convs": "the default CPU step's convolutions: forward, input and weight gradients",
    "metrics": "scoring 10,000 lesion pairs",
    "pseudolabels": "GrabCut pseudo-labels",
    "ingest": "ingest, synthetic DeepLesion",
    "snakemake": "no-op Snakemake",
    "jobs": "one workflow job per rule: start-up, imports, load, work, write",
    "gpu": "CUDA: mixed precision and peak memory",
}


def _run_one(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    quick = args.quick
    if name == "training":
        return training.run(quick, threads=args.threads)
    if name == "convs":
        return convs.run(quick)
    if name == "metrics":
        return metrics.run(quick)
    if name == "pseudolabels":
        return grabcut.run(quick, workdir)
    if name == "ingest":
        return ingest.run(quick, workdir)
    if name == "snakemake":
        return workflow.run(quick, workdir)
    if name == "jobs":
        return jobs.run(quick, workdir)
    if name == "gpu":
        return gpu.run(quick)
    raise KeyError(name)


def unit(figure: str) -> str:
    for suffix, label in (
        ("images_per_s", "images/s"),
        ("pairs_per_s", "pairs/s"),
        ("patches_per_s", "patches/s"),
        ("lesions_per_s", "lesions/s"),
        ("slices_per_s", "slices/s"),
        ("_mib", "MiB"),
        ("_s", "s"),
    ):
        if figure.endswith(suffix):
            return label
    if figure.startswith(("speedup", "pixel_ratio")) or "speedup" in figure:
        return "x"
    return ""


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if value == 0 or not math.isfinite(value):
        return str(value)
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def format_table(results: dict, facts: dict) -> str:
    rows = [("benchmark", "figure", "value", "unit")]
    notes = []
    for name, result in results.items():
        if "skipped" in result:
            rows.append((name, f"skipped: {result['skipped']}", "", ""))
            continue
        if "error" in result:
            rows.append((name, "ERROR (see JSON)", "", ""))
            continue
        for figure, value in result["figures"].items():
            rows.append((name, figure, _fmt(value), unit(figure)))
        notes += [f"[{name}] {note}" for note in result.get("notes", [])]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]

    def line(r):
        return "| " + " | ".join(c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |"

    out = [
        f"lesionmtl benchmarks on {facts['device_name']} ({facts['device']}, {facts['cpu_cores_available']} cores, "
        f"torch {facts['torch']}, load average at start {facts['load_average_start']})",
        line(rows[0]),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(line(r) for r in rows[1:]),
        *notes,
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for the test (under a minute)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / "results" / "bench",
        help="where the JSON file goes (default: results/bench/)",
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for CPU training (default 1, as config.yaml training.threads)",
    )
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")

    facts = machine_facts()
    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lesionmtl-bench-") as tmp:
        for name in selected:
            print(f"running {name}: {BENCHMARKS[name]} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                results[name] = _run_one(name, args, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - one failing benchmark must not lose the others
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            results[name]["seconds"] = round(time.perf_counter() - t0, 2)
    facts["load_average_end"] = load_average()
    facts["total_seconds"] = round(time.perf_counter() - started, 2)

    stamp = time.strftime("%Y%m%dT%H%M%S")
    stem = f"bench-{stamp}-{'quick' if args.quick else 'full'}-{facts['device']}"
    out_path = Path(args.out_dir) / f"{stem}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    counter = 1
    while out_path.exists():  # one file per run, never overwritten
        out_path = out_path.with_name(f"{stem}-{counter}.json")
        counter += 1
    out_path.write_text(
        json.dumps({"machine": facts, "quick": args.quick, "benchmarks": results}, indent=2, default=str) + "\n"
    )
    print(format_table(results, facts))
    print(f"total {facts['total_seconds']:.1f} s; JSON written to {out_path}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
