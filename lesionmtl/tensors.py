"""Patches as model input: uint8 stacks kept on the device, normalised and padded per batch.

Keeping the uint8 stack on the device (a dataset of patches fits easily in GPU memory) and
normalising there avoids a DataLoader entirely. Inputs are padded to a multiple of 16 (what
DeepLabV3+ needs), not to the original code's 384x480, and outputs are cropped back before any
loss or score is computed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD_MULTIPLE = 16  # DeepLabV3+ downsamples by 16


def memory_format(device: torch.device | str) -> torch.memory_format:
    """The layout of model and inputs: channels_last on CUDA (faster cuDNN convolutions), NCHW on the CPU."""
    return torch.channels_last if torch.device(device).type == "cuda" else torch.contiguous_format


def padded_size(size: int, multiple: int = PAD_MULTIPLE) -> int:
    return -(-size // multiple) * multiple


class ImageBatcher:
    """Turns rows of an (N,H,W,3) uint8 stack into normalised, padded (B,3,H',W') batches."""

    def __init__(self, images: np.ndarray, device: torch.device, multiple: int = PAD_MULTIPLE):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected (N,H,W,3) uint8 patches, got {images.shape} {images.dtype}")
        self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
        self.height, self.width = images.shape[1:3]
        self.pad = (
            0,
            padded_size(self.width, multiple) - self.width,
            0,
            padded_size(self.height, multiple) - self.height,
        )
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self.memory_format = memory_format(device)

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        x = self.images[torch.as_tensor(rows, device=self.images.device)].float().div_(255)
        x = F.pad((x - self.mean) / self.std, self.pad)
        # Indexing the permuted NHWC stack yields channels_last strides already: state the layout.
        return x.contiguous(memory_format=self.memory_format)

    def crop(self, output: torch.Tensor) -> torch.Tensor:
        """Cut a (B,C,H',W') model output back to the patch size."""
        return output[..., : self.height, : self.width]
