"""Prediction with a trained model: a checkpoint in, probabilities and masks out.

``Predictor.from_checkpoint("model.pt", device="cpu").predict(patches)`` takes (N, h, w, 3) uint8
patches cut as in training (the checkpoint's ``patches`` and ``input`` sections say how) and
returns foreground probabilities and, for models with a cluster head, the cluster logits.
Co-segmentation models (ACoseg) segment each patch together with a partner patch, which the
caller chooses (evaluation pairs each lesion with its nearest training lesion in shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lesionmtl.checkpoints import load_checkpoint
from lesionmtl.clustering import shape_features
from lesionmtl.devices import select_device
from lesionmtl.models import PAIRED, build_model, forward_outputs
from lesionmtl.tensors import Canvas, ImageBatcher, memory_format


@dataclass
class Prediction:
    probabilities: np.ndarray  # (N, h, w) float32 foreground probability
    class_logits: np.ndarray | None  # (N, K) for models with a cluster head

    def masks(self, threshold: float = 0.5) -> np.ndarray:
        """(N, h, w) bool: the foreground at ``threshold``."""
        return self.probabilities >= threshold

    def logits_array(self) -> np.ndarray:
        """(N, K) float32 cluster logits, or (N, 0) for a model without a cluster head (a file
        that always exists, so that a rule's outputs do not depend on the architecture)."""
        if self.class_logits is None:
            return np.zeros((len(self.probabilities), 0), np.float32)
        return self.class_logits.astype(np.float32, copy=False)


class Predictor:
    """A trained model on one device, with the facts of its checkpoint (``facts``: every section
    but the weights; see :mod:`lesionmtl.checkpoints`)."""

    def __init__(self, model: torch.nn.Module, facts: dict, device: torch.device, batch_size: int = 32):
        self.model = model.to(device, memory_format=memory_format(device)).eval()
        self.facts = facts
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", batch_size: int = 32) -> Predictor:
        """Rebuild the model of ``path`` (nothing is downloaded). ``device`` as in
        :func:`lesionmtl.devices.select_device`: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
        checkpoint = load_checkpoint(Path(path))
        spec = checkpoint.pop("model")
        model = build_model(
            spec["arch"],
            encoder=spec["encoder"],
            n_clusters=spec["n_clusters"],
            in_channels=spec["in_channels"],
            head_dropout=spec["head_dropout"],
            output_stride=spec.get("output_stride", 16),  # absent in checkpoints before the switch
        )
        model.load_state_dict(checkpoint.pop("state_dict"))
        return cls(model, {"model": spec, **checkpoint}, select_device(device), batch_size)

    @property
    def arch(self) -> str:
        return self.facts["model"]["arch"]

    @property
    def paired(self) -> bool:
        """Whether each patch needs a partner patch (co-segmentation)."""
        return self.arch in PAIRED

    @property
    def patch_size(self) -> tuple[int, int]:
        h, w = self.facts["input"]["patch_size"]
        return h, w

    def _check(self, images: np.ndarray, what: str) -> None:
        if images.ndim != 4 or images.shape[1:] != (*self.patch_size, 3) or images.dtype != np.uint8:
            raise ValueError(
                f"{what}: expected (N, {self.patch_size[0]}, {self.patch_size[1]}, 3) uint8 patches "
                f"(the size this model was trained on), got {images.shape} {images.dtype}"
            )

    @torch.no_grad()
    def predict(self, images: np.ndarray, partners: np.ndarray | None = None) -> Prediction:
        """Probabilities for (N, h, w, 3) uint8 ``images``; ``partners`` (same shape) only and
        always for co-segmentation models: the patch each image is segmented together with."""
        self._check(images, "images")
        if self.paired != (partners is not None):
            need = "needs a partner patch per image" if self.paired else "takes no partner patches"
            raise ValueError(f"architecture {self.arch!r} {need}")
        if partners is not None:
            self._check(partners, "partners")
            if len(partners) != len(images):
                raise ValueError(f"{len(images)} images but {len(partners)} partners")
        canvas = Canvas.from_dict(self.facts["input"].get("canvas"))  # scored on the patch, whatever the canvas
        batcher = ImageBatcher(images, self.device, canvas)
        partner_batcher = ImageBatcher(partners, self.device, canvas) if partners is not None else None
        probs, logits = [], []
        for start in range(0, len(images), self.batch_size):
            rows = np.arange(start, min(start + self.batch_size, len(images)))
            paired = partner_batcher.batch(rows) if partner_batcher is not None else None
            mask_logits, class_logits = forward_outputs(self.model, batcher.batch(rows), paired)
            probs.append(torch.sigmoid(batcher.crop(mask_logits.float()))[:, 0].cpu().numpy())
            if class_logits is not None:
                logits.append(class_logits.float().cpu().numpy())
        empty = np.zeros((0, *self.patch_size), np.float32)
        return Prediction(np.concatenate(probs) if probs else empty, np.concatenate(logits) if logits else None)


def partner_rows(lesions: pd.DataFrame) -> np.ndarray:
    """Co-segmentation partner of every patch: the most similar *training* lesion by RECIST shape.

    At test time a co-segmentation net needs a second image. We pair each lesion with the
    training lesion nearest in standardised RECIST-ellipse features (the same information the
    clusters use, known at test time), never with itself: deterministic, and it gives the
    attention a partner of like shape, as co-segmentation intends. Indexed by patch row.
    """
    # sklearn takes ~1 s to import: only the prediction of a paired (ACoseg) run pays it
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    features = StandardScaler().fit_transform(shape_features(lesions))
    train = np.flatnonzero(lesions["split"].to_numpy() == "train")
    _, nearest = NearestNeighbors(n_neighbors=2).fit(features[train]).kneighbors(features)
    # A training lesion finds itself first; it takes its second neighbour instead.
    is_self = train[nearest[:, 0]] == np.arange(len(lesions))
    chosen = train[np.where(is_self, nearest[:, 1], nearest[:, 0])]
    patch_rows = lesions["patch_index"].to_numpy()
    partners = np.empty(len(lesions), dtype=np.int64)
    partners[patch_rows] = patch_rows[chosen]
    return partners


def predict_lesions(predictor: Predictor, lesions: pd.DataFrame, images: np.ndarray) -> Prediction:
    """Every patch of an ingested dataset (``images`` by patch row), as the evaluation scores it:
    a co-segmentation model segments each patch with its :func:`partner_rows` partner."""
    partners = images[partner_rows(lesions)] if predictor.paired else None
    return predictor.predict(images, partners=partners)
