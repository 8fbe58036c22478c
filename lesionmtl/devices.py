"""Choosing the device a job trains on."""

from __future__ import annotations

import torch


def select_device(request: str = "auto") -> torch.device:
    """``auto`` picks the first visible CUDA device when there is one, else the CPU."""
    if request == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(request)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {request!r} requested but CUDA is not available")
    return device
