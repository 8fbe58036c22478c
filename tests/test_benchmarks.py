"""The benchmark suite runs end to end with --quick and records every figure (no timing assertions)."""

import json
import math
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO

BENCHMARKS = ("training", "convs", "metrics", "pseudolabels", "ingest", "snakemake", "jobs", "gpu")
MACHINE_FACTS = ("cpu_model", "cpu_cores_logical", "torch", "device", "device_name")


@pytest.mark.slow
def test_quick_suite_writes_json_and_prints_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    files = list(tmp_path.glob("bench-*-quick-*.json"))
    assert len(files) == 1, files
    report = json.loads(files[0].read_text())
    assert report["quick"] is True
    for fact in MACHINE_FACTS:
        assert report["machine"][fact], fact
    assert report["machine"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")

    results = report["benchmarks"]
    assert set(results) == set(BENCHMARKS)
    for name, result in results.items():
        assert "error" not in result, (name, result.get("error"))
        if name == "gpu" and not torch.cuda.is_available():
            assert result["skipped"] == "no CUDA"
            continue
        figures = result["figures"]
        assert figures, name
        for figure, value in figures.items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (name, figure, value)
            # a phase a job does not have (a job that reads nothing) is 0 s
            assert value > 0 or (name == "jobs" and value == 0), (name, figure, value)

    # the headline figure of each benchmark
    assert "speedup_ours_vs_original" in results["training"]["figures"]
    assert "tiny_maps_speedup_gemm_grad_weight" in results["convs"]["figures"]
    assert "score_masks_10k_s" in results["metrics"]["figures"]
    assert "naive_medpy_style_10k_s" in results["metrics"]["figures"]
    assert "speedup_2_vs_1_procs" in results["pseudolabels"]["figures"]
    assert "lesions_per_s" in results["ingest"]["figures"]
    assert "tiny_noop_s" in results["snakemake"]["figures"]
    jobs = results["jobs"]["figures"]
    for rule in ("synthesize", "ingest", "train", "evaluate", "report_table1"):
        assert jobs[f"{rule}_imports_s"] > 0 and jobs[f"{rule}_total_s"] > jobs[f"{rule}_work_s"] > 0, rule

    table = proc.stdout
    assert "| benchmark" in table and "| figure" in table
    for name in BENCHMARKS:
        assert f"| {name}" in table, name
    if not torch.cuda.is_available():
        assert "skipped: no CUDA" in table
    assert str(files[0]) in table
