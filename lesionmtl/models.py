"""Model builders: every architecture of the paper behind one function.

All models return ``(mask_logits, class_logits_or_None)`` through :func:`forward_outputs`, so one
training loop serves them all. Parameter counts match the paper's section 7.6 exactly for the
ResNet101 configurations (see ``tests/test_models.py``).
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
from torch import nn

ARCHITECTURES = ("a1", "a1l", "unet", "unetl")
# Architectures that carry the K-way cluster classification head ("+L" in the paper).
WITH_CLUSTER_HEAD = {"a1l", "unetl"}


def needs_clusters(arch: str) -> bool:
    """True when the architecture is trained with cluster labels."""
    return arch in WITH_CLUSTER_HEAD


def build_model(
    arch: str,
    *,
    encoder: str = "resnet101",
    n_clusters: int | None = None,
    encoder_weights: str | None = None,
    in_channels: int = 3,
) -> nn.Module:
    """Build A1 (DeepLabV3+), A1+L (with cluster head), or the U-Net counterparts.

    ``encoder_weights`` is ``"imagenet"`` for the paper's runs and ``None`` offline: weights are
    never fetched implicitly.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    aux_params = None
    if needs_clusters(arch):
        if not n_clusters or n_clusters < 2:
            raise ValueError(f"architecture {arch!r} needs n_clusters >= 2, got {n_clusters!r}")
        # smp's classification head: global pool -> dropout -> linear on the deepest features,
        # i.e. the paper's classifier g at the bottleneck.
        aux_params = {"classes": int(n_clusters), "pooling": "avg", "dropout": None}
    elif n_clusters:
        raise ValueError(f"architecture {arch!r} has no cluster head; do not pass n_clusters")
    common = dict(
        encoder_name=encoder,
        encoder_weights=encoder_weights,
        in_channels=in_channels,
        classes=1,
        aux_params=aux_params,
    )
    if arch in ("a1", "a1l"):
        return smp.DeepLabV3Plus(**common)
    return smp.Unet(**common)


def forward_outputs(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``model`` and return ``(mask_logits (B,1,H,W), class_logits (B,K) or None)``."""
    out = model(images)
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
