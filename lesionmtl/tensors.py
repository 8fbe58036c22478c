"""Patches as model input: uint8 stacks kept on the device, normalised and laid on a canvas per batch.

Keeping the uint8 stack on the device (a dataset of patches fits easily in GPU memory) and
normalising there avoids a DataLoader entirely. The *canvas* the network sees is a switch
(``training.canvas``, :class:`Canvas`):

* ``crop`` (default): zero padding (in normalised units) to the next multiple of 16 at the bottom
  and right, what DeepLabV3+ needs; outputs are cropped back before any loss or score.
* ``reflect``: the patch in the middle of a larger canvas (``size`` [H, W], or ``scale`` times the
  patch; either rounded up to a multiple of 16), filled by reflect-101 (``cv2.BORDER_REFLECT_101``, what
  albumentations' ``PadIfNeeded`` does), image *and* mask; the loss is taken over the whole canvas
  and scores on the central patch, as the released code did with ``size: [384, 480]``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD_MULTIPLE = 16  # DeepLabV3+ downsamples by 16
CANVAS_MODES = ("crop", "reflect")


def memory_format(device: torch.device | str) -> torch.memory_format:
    """The layout of model and inputs: channels_last on CUDA (faster cuDNN convolutions), NCHW on the CPU."""
    return torch.channels_last if torch.device(device).type == "cuda" else torch.contiguous_format


def padded_size(size: int, multiple: int = PAD_MULTIPLE) -> int:
    return -(-size // multiple) * multiple


def reflect_101(length: int, before: int, total: int) -> np.ndarray:
    """Source index of each of ``total`` positions when ``length`` samples are placed at ``before``
    and the rest is filled by reflect-101 (``dcb|abcd|cba``), repeatedly where the border is
    wider than the samples (as ``cv2.copyMakeBorder``)."""
    positions = np.arange(total) - before
    if length == 1:
        return np.zeros(total, dtype=np.int64)
    period = 2 * (length - 1)
    folded = np.mod(positions, period)
    return np.where(folded < length, folded, period - folded).astype(np.int64)


@dataclass(frozen=True)
class Canvas:
    """Where a (h, w) patch lies in the network's input, and how the rest is filled (module docstring)."""

    mode: str = "crop"
    size: tuple[int, int] | None = None  # reflect: the canvas (H, W)
    scale: float | None = None  # reflect: the canvas as a multiple of the patch size

    @classmethod
    def from_dict(cls, spec: dict | None) -> Canvas:
        spec = dict(spec or {})
        size = spec.pop("size", None)
        canvas = cls(spec.pop("mode", "crop"), tuple(size) if size is not None else None, spec.pop("scale", None))
        if spec or canvas.mode not in CANVAS_MODES:
            raise ValueError(f"unknown canvas {spec or canvas.mode!r}; modes {', '.join(CANVAS_MODES)}")
        if canvas.mode == "reflect" and (canvas.size is None) == (canvas.scale is None):
            raise ValueError("a reflect canvas needs exactly one of size [H, W] or scale")
        return canvas

    def as_dict(self) -> dict:
        out: dict = {"mode": self.mode}
        if self.size is not None:
            out["size"] = [int(v) for v in self.size]
        if self.scale is not None:
            out["scale"] = self.scale
        return out

    @property
    def loss_on_canvas(self) -> bool:
        return self.mode == "reflect"

    def layout(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(canvas H, canvas W, top, left) of a (height, width) patch."""
        if self.mode == "crop":
            return padded_size(height), padded_size(width), 0, 0
        if self.size is not None:
            big_h, big_w = padded_size(max(self.size[0], height)), padded_size(max(self.size[1], width))
        else:
            big_h, big_w = padded_size(int(np.ceil(height * self.scale))), padded_size(int(np.ceil(width * self.scale)))
        return big_h, big_w, (big_h - height) // 2, (big_w - width) // 2


class ImageBatcher:
    """Turns rows of an (N,H,W,3) uint8 stack into normalised (B,3,H',W') canvases (:class:`Canvas`)."""

    def __init__(self, images: np.ndarray, device: torch.device, canvas: Canvas | None = None):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected (N,H,W,3) uint8 patches, got {images.shape} {images.dtype}")
        with warnings.catch_warnings():  # a read-only memory map shared, not copied: batches are gathered copies
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            stack = torch.from_numpy(np.ascontiguousarray(images))
        self.images = stack.to(device).permute(0, 3, 1, 2)
        self.height, self.width = images.shape[1:3]
        self.canvas = canvas or Canvas()
        big_h, big_w, self.top, self.left = self.canvas.layout(self.height, self.width)
        self.pad = (self.left, big_w - self.width - self.left, self.top, big_h - self.height - self.top)
        self.reflect = None
        if self.canvas.mode == "reflect":
            self.reflect = (
                torch.from_numpy(reflect_101(self.height, self.top, big_h)).to(device),
                torch.from_numpy(reflect_101(self.width, self.left, big_w)).to(device),
            )
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self.memory_format = memory_format(device)

    def extend(self, x: torch.Tensor) -> torch.Tensor:
        """A (..., h, w) patch-sized tensor laid out on the canvas: reflected, or zero-padded."""
        if self.reflect is None:
            return F.pad(x, self.pad)
        rows, cols = self.reflect
        return x.index_select(-2, rows).index_select(-1, cols)

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        x = self.images[torch.as_tensor(rows, device=self.images.device)].float().div_(255)
        x = self.extend((x - self.mean) / self.std)
        # Indexing the permuted NHWC stack yields channels_last strides already: state the layout.
        return x.contiguous(memory_format=self.memory_format)

    def crop(self, output: torch.Tensor) -> torch.Tensor:
        """Cut a (..., H', W') model output back to the patch."""
        return output[..., self.top : self.top + self.height, self.left : self.left + self.width]
