"""6. CUDA only: training throughput with and without mixed precision, and peak GPU memory.

Same real training step as benchmark 1 (A1+L, the paper's resnet101, batch 10), at both input
sizes, in three variants: fp32 NCHW, fp32 channels_last, and bf16 autocast + channels_last (what
the Trainer does on CUDA by default). Peak memory is ``torch.cuda.max_memory_allocated`` over the
timed steps (model, Adam state, the patch stack kept on the GPU and activations).
"""

from __future__ import annotations

import torch

from benchmarks.training import ORIGINAL_HW, OURS_HW, measure_step_throughput

VARIANTS = {
    "fp32": dict(mixed_precision=False, channels_last=False),
    "fp32_channels_last": dict(mixed_precision=False, channels_last=True),
    "bf16_channels_last": dict(mixed_precision=True, channels_last=True),
}


def run(quick: bool) -> dict:
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA"}
    warmup, steps = (1, 2) if quick else (3, 10)
    figures = {}
    for size_name, hw in (("128x128", OURS_HW), ("384x480", ORIGINAL_HW)):
        for variant, options in VARIANTS.items():
            out = measure_step_throughput(
                hw, encoder="resnet101", batch_size=10, warmup_steps=warmup, steps=steps, device="cuda", **options
            )
            figures[f"{size_name}_{variant}_images_per_s"] = out["images_per_s"]
            figures[f"{size_name}_{variant}_peak_mem_mib"] = out["peak_mem_mib"]
        figures[f"{size_name}_bf16_speedup_vs_fp32"] = (
            figures[f"{size_name}_bf16_channels_last_images_per_s"] / figures[f"{size_name}_fp32_images_per_s"]
        )
    return {
        "figures": figures,
        "settings": {
            "encoder": "resnet101",
            "batch_size": 10,
            "warmup_steps": warmup,
            "timed_steps": steps,
            "device_name": torch.cuda.get_device_name(0),
        },
        "notes": [
            f"A1+L resnet101, batch 10, {warmup} warm-up + {steps} timed steps, cudnn.benchmark on",
            f"fp32 = PyTorch defaults: cuDNN convolutions may use TF32 (torch.backends.cudnn.allow_tf32 = {torch.backends.cudnn.allow_tf32})",
        ],
    }
