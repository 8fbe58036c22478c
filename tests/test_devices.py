import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lesionmtl.devices import claim_free, select_device
from lesionmtl.scheduling import NVIDIA_PROC, visible_gpus
from tests.conftest import REPO, clean_env, snakemake

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lesionmtl.devices import claim_free
    print(claim_free(["gpu-a", "gpu-b"], Path(sys.argv[1])), flush=True)
    time.sleep(60)
    """
)


def test_concurrent_jobs_claim_different_gpus_and_a_killed_job_frees_its_gpu(tmp_path):
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        first_index, second_index = int(first.stdout.readline()), int(second.stdout.readline())
        assert {first_index, second_index} == {0, 1}
        # Both taken: a third claimant waits, then gives up.
        try:
            claim_free(["gpu-a", "gpu-b"], tmp_path, wait_seconds=0.5)
        except TimeoutError as error:
            assert "no free device" in str(error)
        else:
            raise AssertionError("claimed a device that two other processes hold")
        first.kill()
        first.wait()
        assert claim_free(["gpu-a", "gpu-b"], tmp_path, wait_seconds=5) == first_index
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_cpu_is_chosen_without_cuda():
    if not torch.cuda.is_available():
        assert select_device("auto").type == "cpu"
    assert select_device("cpu").type == "cpu"


def test_a_process_gets_its_own_gpu_again_and_locks_are_shareable(tmp_path):
    first = claim_free(["gpu-x", "gpu-y"], tmp_path, wait_seconds=0.5)
    assert claim_free(["gpu-x", "gpu-y"], tmp_path, wait_seconds=0.5) == first  # not blocked by itself
    assert (tmp_path / "gpu-x.lock").stat().st_mode & 0o777 == 0o666
    assert tmp_path.stat().st_mode & 0o1777 == 0o1777


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_is_an_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        select_device("cuda")


WAITER = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from lesionmtl.devices import claim_free
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    print(claim_free(["gpu-a"], Path(sys.argv[1]), log_every=0.2), flush=True)
    """
)


def test_a_job_without_a_free_gpu_waits_and_says_so_until_one_frees(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "0"
        waiter = subprocess.Popen(
            [sys.executable, "-c", WAITER, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert "all 1 GPUs are in use by other jobs" in waiter.stderr.readline()
        assert waiter.poll() is None, "the waiting job gave up"
        holder.kill()
        holder.wait()
        out, _ = waiter.communicate(timeout=60)
        assert out.strip() == "0"
    finally:
        for proc in (holder, waiter):
            if proc is not None:
                proc.kill()
                proc.wait()


def fake_nvidia_smi(folder: Path, n_gpus: int) -> Path:
    """A stand-in `nvidia-smi` whose `-L` lists `n_gpus` cards (one of them split into MIG slices)."""
    lines = [f"GPU {i}: Fake H100 (UUID: GPU-{i})" for i in range(n_gpus)]
    lines[1:1] = ["  MIG 1g.10gb     Device  0: (UUID: MIG-0)"] if n_gpus else []
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + "".join(f"echo '{line}'\n" for line in lines))
    script.chmod(0o755)
    return folder


def test_visible_gpus_counts_the_driver_list_narrowed_by_cuda_visible_devices(tmp_path):
    proc = tmp_path / "gpus"
    for address in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (proc / address).mkdir(parents=True)
    assert visible_gpus({}, proc) == 3
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,0"}, proc) == 2
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-5a1c,GPU-77e2,GPU-0c3d,GPU-9"}, proc) == 3
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}, proc) == 1  # CUDA stops at the first invalid entry
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, proc) == 0
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, proc) == 0


def test_visible_gpus_asks_nvidia_smi_without_the_driver_list(tmp_path, monkeypatch):
    no_proc = tmp_path / "absent"
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path, 2)))
    assert visible_gpus({}, no_proc) == 2
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nvidia-smi at all
    assert visible_gpus({}, no_proc) == 0


def provided_resources(tmp_path: Path, n_gpus: int, *args: str) -> str:
    """The resource limits a plain local `snakemake` starts with (`--touch` of a missing output:
    nothing runs, but the limits are printed) on a machine whose nvidia-smi lists `n_gpus`."""
    env = {k: v for k, v in clean_env().items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{fake_nvidia_smi(tmp_path, n_gpus)}{os.pathsep}{env['PATH']}"
    configfile = ["--configfile", str(REPO / "config.yaml")]
    result = snakemake(tmp_path, *configfile, "--touch", "results/raw/synth_ham", *args, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return next(line for line in result.stderr.splitlines() if line.startswith("Provided resources:"))


@pytest.mark.skipif(NVIDIA_PROC.exists(), reason="this machine's NVIDIA driver, not the stand-in, says how many GPUs")
def test_a_plain_local_run_starts_at_most_one_gpu_job_per_gpu(tmp_path):
    assert 'gpu=Resource("gpu", 2)' in provided_resources(tmp_path, 2)
    # a limit the user gives wins; without GPUs there is none (the jobs train on the CPU)
    assert 'gpu=Resource("gpu", 5)' in provided_resources(tmp_path, 2, "--resources", "gpu=5")
    assert "gpu=" not in provided_resources(tmp_path, 0)
