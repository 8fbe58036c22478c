import subprocess
import sys
import textwrap

import pytest
import torch

from lesionmtl.devices import claim_free, select_device

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
