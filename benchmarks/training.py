"""1. Training throughput of A1+L at the chosen input (configs/paper.yaml's canvas and output stride: a
120x120 patch padded to 128x128 at stride 16) vs the original 384x480.

The original is the released code's canvas itself (``training.canvas: {mode: reflect, size: [384, 480]}``):
the same 120x120 patches, reflect-101 to 384x480, the loss over the canvas. The chosen input is read
from configs/paper.yaml, where the protocol study chose it (docs/deviations.md "Protocol study").

The timed code is the real training step: ``lesionmtl.training.Trainer.train_step`` (ImageBatcher
-> forward_outputs -> alpha_seg * BCE + alpha_cls * CE -> backward -> Adam step, losses read back
after each step), on random uint8 images, masks and cluster labels. Both sizes use the same model, encoder
and batch size; only the input size differs.
"""

from __future__ import annotations

import tempfile

import numpy as np
import torch
import yaml

from benchmarks.machine import REPO
from benchmarks.timing import Timer
from lesionmtl.defaults import schema_defaults

# The chosen input: configs/paper.yaml's canvas and output stride (the schema's defaults where it is silent).
_PAPER, _DEFAULTS = (
    yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())["training"],
    schema_defaults("training"),
)
CHOSEN = {key: _PAPER.get(key, _DEFAULTS[key]) for key in ("canvas", "output_stride")}
OURS_HW = (120, 120)  # a DeepLesion patch; ImageBatcher pads it to 128x128
ORIGINAL_HW = (384, 480)  # the original code's input size
ORIGINAL_CANVAS = {"mode": "reflect", "size": list(ORIGINAL_HW)}  # configs/released_code.yaml
N_CLUSTERS = 190  # the paper's K for DeepLesion


def measure_step_throughput(
    hw: tuple[int, int],
    *,
    encoder: str,
    batch_size: int,
    warmup_steps: int,
    steps: int,
    device: str,
    threads: int | None = None,
    mixed_precision: bool = True,
    channels_last: bool | None = None,
    canvas: dict | None = None,
    output_stride: int = _DEFAULTS["output_stride"],
) -> dict:
    """Images/s of ``steps`` real training steps of A1+L after ``warmup_steps`` untimed ones.

    ``channels_last=False`` turns off the channels_last layout the Trainer uses on CUDA.
    On CUDA the peak memory of the timed steps is reported too.
    """
    from lesionmtl.models import count_parameters
    from lesionmtl.training import TrainConfig, Trainer, TrainingData

    rng = np.random.default_rng(0)
    n = batch_size * max(steps, warmup_steps)
    images = rng.integers(0, 256, (n + 1, *hw, 3), dtype=np.uint8)
    masks = np.zeros((n + 1, *hw), bool)
    masks[:, hw[0] // 4 : 3 * hw[0] // 4, hw[1] // 4 : 3 * hw[1] // 4] = True
    data = TrainingData(
        images=images,
        masks=masks,
        train_idx=np.arange(n),
        val_idx=np.array([n]),
        clusters=rng.integers(0, N_CLUSTERS, n + 1),
        n_clusters=N_CLUSTERS,
    )
    config = TrainConfig(
        "a1l",
        encoder=encoder,
        encoder_weights=None,
        batch_size=batch_size,
        device=device,
        threads=threads,
        mixed_precision=mixed_precision,
        canvas=canvas or {"mode": "crop"},
        output_stride=output_stride,
    )
    threads_before = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as state_dir:
            trainer = Trainer(config, data, state_dir)
            cuda = trainer.device.type == "cuda"
            if channels_last is False and cuda:
                trainer.set_memory_format(torch.contiguous_format)
            batches = np.arange(n).reshape(-1, batch_size)
            for rows in batches[:warmup_steps]:
                trainer.train_step(rows)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with Timer() as t:
                for rows in batches[:steps]:
                    trainer.train_step(rows)  # reads the losses back: every step has finished when it returns
                if cuda:
                    torch.cuda.synchronize()
            out = {
                "images_per_s": batch_size * steps / t.seconds,
                "step_s": t.seconds / steps,
                "parameters": count_parameters(trainer.model),
                "device": str(trainer.device),
                "threads": torch.get_num_threads(),
            }
            if cuda:
                out["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
            del trainer
            if cuda:
                torch.cuda.empty_cache()
            return out
    finally:
        torch.set_num_threads(threads_before)


def run(quick: bool, threads: int | None = 1) -> dict:
    cuda = torch.cuda.is_available()
    if cuda:
        encoder, batch_size, device, threads = "resnet101", 10, "cuda", None
        warmup, steps = (1, 2) if quick else (3, 10)
    else:
        encoder, batch_size, device = "resnet18", (2 if quick else 4), "cpu"
        warmup, steps = (1, 1) if quick else (1, 3)
    common = dict(
        encoder=encoder, batch_size=batch_size, warmup_steps=warmup, steps=steps, device=device, threads=threads
    )
    ours = measure_step_throughput(OURS_HW, **CHOSEN, **common)
    original = measure_step_throughput(OURS_HW, canvas=ORIGINAL_CANVAS, **common)
    # The other stride, on the chosen canvas: what the protocol study's remedy for small lesions costs.
    other_stride = 8 if CHOSEN["output_stride"] == 16 else 16
    other = measure_step_throughput(OURS_HW, **{**CHOSEN, "output_stride": other_stride}, **common)
    padded = tuple(-(-v // 16) * 16 for v in OURS_HW)
    notes = [
        f"A1+L (DeepLabV3+ + cluster head, K={N_CLUSTERS}), {encoder}, batch {batch_size}, "
        f"{warmup} warm-up + {steps} timed steps per size, on {ours['device']}"
        + (f", {ours['threads']} torch thread(s)" if not cuda else ", bf16 autocast + channels_last (Trainer default)"),
    ]
    notes.append(f"ours: configs/paper.yaml's canvas {CHOSEN['canvas']} and output stride {CHOSEN['output_stride']}")
    if not cuda:
        notes.append("CPU: resnet18 instead of the paper's resnet101 to keep the run short; on CUDA it is resnet101")
    return {
        "figures": {
            "ours_128x128_images_per_s": ours["images_per_s"],
            "original_384x480_images_per_s": original["images_per_s"],
            "speedup_ours_vs_original": ours["images_per_s"] / original["images_per_s"],
            "pixel_ratio_original_vs_ours": (ORIGINAL_HW[0] * ORIGINAL_HW[1]) / (padded[0] * padded[1]),
            f"ours_at_stride_{other_stride}_images_per_s": other["images_per_s"],
            "ours_step_s": ours["step_s"],
            "original_step_s": original["step_s"],
        },
        "settings": {
            "arch": "a1l",
            "encoder": encoder,
            "n_clusters": N_CLUSTERS,
            "batch_size": batch_size,
            "warmup_steps": warmup,
            "timed_steps": steps,
            "device": ours["device"],
            "threads": ours["threads"],
            "parameters": ours["parameters"],
            "ours_input": list(OURS_HW),
            "ours_padded": list(padded),
            "ours_canvas": CHOSEN["canvas"],
            "ours_output_stride": CHOSEN["output_stride"],
            "original_input": list(ORIGINAL_HW),
        },
        "notes": notes,
    }
