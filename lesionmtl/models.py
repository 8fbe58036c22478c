"""Model builders: every architecture of the paper behind one function.

All models return ``(mask_logits, class_logits_or_None)`` through :func:`forward_outputs`, so one
training loop serves them all. Parameter counts match the paper's section 7.6 exactly for the
ResNet101 configurations (see ``tests/test_models.py``).
"""

from __future__ import annotations

import segmentation_models_pytorch as smp
import torch
from torch import nn

from lesionmtl.architectures import ARCHITECTURES, PAIRED, WITH_CLUSTER_HEAD, architecture, needs_clusters
from lesionmtl.defaults import schema_defaults

__all__ = [
    "ARCHITECTURES",
    "PAIRED",
    "WITH_CLUSTER_HEAD",
    "build_model",
    "count_parameters",
    "forward_outputs",
    "needs_clusters",
]


# The defaults of the schema's `training` section: encoder, weights, and the dropout before the
# cluster head's linear layer (smp's ``aux_params`` default, which the released code used; the
# paper does not say; dropout has no parameters, so the counts stay the paper's).
TRAINING_DEFAULTS = schema_defaults("training")


def build_model(
    arch: str,
    *,
    encoder: str = TRAINING_DEFAULTS["encoder"],
    n_clusters: int | None = None,
    encoder_weights: str | None = TRAINING_DEFAULTS["encoder_weights"],
    in_channels: int = 3,
    head_dropout: float = TRAINING_DEFAULTS["head_dropout"],
    output_stride: int = TRAINING_DEFAULTS["output_stride"],
) -> nn.Module:
    """Build A1 (DeepLabV3+), A1+L (with cluster head), or the U-Net counterparts.

    ``encoder_weights`` is ``"imagenet"`` for the paper's runs and ``None`` offline: weights are
    never fetched implicitly. ``head_dropout`` applies to the cluster head only (0: none).
    ``output_stride`` (8 or 16) is the DeepLabV3+ encoder's (dilated last stages at 8); U-Net ignores it.
    """
    spec = architecture(arch)
    aux_params = None
    if spec.cluster_head:
        if not n_clusters or n_clusters < 2:
            raise ValueError(f"architecture {arch!r} needs n_clusters >= 2, got {n_clusters!r}")
        # smp's classification head: global pool -> dropout -> linear on the deepest features,
        # i.e. the paper's classifier g at the bottleneck.
        aux_params = {"classes": int(n_clusters), "pooling": "avg", "dropout": head_dropout or None}
    elif n_clusters:
        raise ValueError(f"architecture {arch!r} has no cluster head; do not pass n_clusters")
    common = dict(
        encoder_name=encoder,
        encoder_weights=encoder_weights,
        in_channels=in_channels,
        classes=1,
        aux_params=aux_params,
    )
    if spec.builder != "unet":  # U-Net decodes every encoder stage: no output stride to set
        common["encoder_output_stride"] = output_stride
    return BUILDERS[spec.builder](**common)


class ChannelCoAttention(nn.Module):
    """Channel attention vector of one image: global average pool -> FC -> tanh -> FC -> sigmoid."""

    def __init__(self, channels: int, hidden: int = 4096):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.Tanh(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features.mean(dim=(2, 3)))[:, :, None, None]


class ACoseg(nn.Module):
    """Siamese co-segmentation (Agarwal et al. 2020) on a shared DeepLabV3+ encoder and decoder.

    Channel co-attention is computed from the deepest and the low-level encoder features of one
    image and scales the *other* image's features (crossed). The paper's released code scaled
    each image by its own attention, so no information passed between the pair.
    """

    def __init__(self, net: smp.DeepLabV3Plus):
        super().__init__()
        self.net = net
        channels = net.encoder.out_channels
        self.deep_attention = ChannelCoAttention(channels[-1])
        self.low_attention = ChannelCoAttention(channels[2])  # the features DeepLabV3+ decodes with

    def _features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        features = list(self.net.encoder(images))
        return features, self.deep_attention(features[-1]), self.low_attention(features[2])

    def _decode(self, features: list[torch.Tensor], deep: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        features[-1] = features[-1] * deep
        features[2] = features[2] * low
        return self.net.segmentation_head(self.net.decoder(features))

    def forward(self, images: torch.Tensor, partners: torch.Tensor | None = None) -> torch.Tensor:
        """Mask logits of ``images``, each co-segmented with its partner.

        Without ``partners`` the batch pairs with itself: image i with image (i + B/2) mod B, so
        an even batch of shuffled images is B/2 random pairs and both masks of a pair get a loss.
        """
        features, deep, low = self._features(images)
        if partners is None:
            order = (torch.arange(len(images), device=images.device) + len(images) // 2) % len(images)
            return self._decode(features, deep[order], low[order])
        _, partner_deep, partner_low = self._features(partners)
        return self._decode(features, partner_deep, partner_low)


# The networks the architecture registry's ``builder`` names.
BUILDERS = {
    "deeplabv3plus": smp.DeepLabV3Plus,
    "unet": smp.Unet,
    "acoseg": lambda **kwargs: ACoseg(smp.DeepLabV3Plus(**kwargs)),
}


def forward_outputs(
    model: nn.Module, images: torch.Tensor, partners: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``model`` and return ``(mask_logits (B,1,H,W), class_logits (B,K) or None)``.

    ``partners`` (co-segmentation only) are the images each input is paired with.
    """
    out = model(images, partners) if partners is not None else model(images)
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
