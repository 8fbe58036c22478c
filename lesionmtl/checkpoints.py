"""The checkpoint format: a trained model's weights and every fact inference needs, as plain values.

A checkpoint (``model.pt``) is a ``dict`` of tensors, strings, numbers, booleans, ``None``, lists
and dicts, so it loads with ``torch.load(..., weights_only=True)`` (no pickled objects, no code
runs on loading). Its sections:

- ``format``, ``version``: this layout (:data:`FORMAT`, :data:`VERSION`).
- ``model``: ``arch``, ``encoder``, ``n_clusters`` (K, or None), ``in_channels``, ``head_dropout``,
  ``output_stride`` (absent in older checkpoints: 16), ``parameters``.
- ``input``: how a uint8 patch becomes the model input: ``patch_size`` [h, w], ``channels``,
  ``scale`` (x / 255), ImageNet ``mean`` and ``std`` per channel, padding to ``pad_multiple``,
  and the ``canvas`` (:class:`~lesionmtl.tensors.Canvas`; absent in older checkpoints: crop).
- ``patches``: how patches are cut from source images (None when trained on bare arrays):
  ``dataset_format``, ``patch_size`` and the reader's options with its defaults filled in (e.g.
  the LiTS HU window and padding), as the dataset's ``ingest.json`` recorded them.
- ``training_data``: ``dataset``, ``supervision``, ``n_lesions`` of the dataset, ``per_split``,
  ``image_layouts`` (lesions per image kind: ``CT 2.5-D``, ``MR slice``, ``colour``, ...),
  ``n_train`` and ``n_val`` patches trained and validated on (dataset facts None when unknown).
- ``training``: the training settings (architecture, alpha, lr, epochs, seed, ...) and outcome
  (``epochs_run``, ``best_epoch``, ``best_val_seg_loss``).
- ``software``: versions of lesionmtl, torch and segmentation-models-pytorch.
- ``state_dict``: the weights of the best epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from lesionmtl import __version__
from lesionmtl.errors import DataError
from lesionmtl.io import atomic_path
from lesionmtl.tensors import IMAGENET_MEAN, IMAGENET_STD, PAD_MULTIPLE, Canvas

FORMAT = "lesionmtl-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class DataSource:
    """Where a run's training data came from: the dataset, its supervision and its ingest facts."""

    dataset: str
    supervision: str
    ingest: dict  # the dataset's ingest.json

    @classmethod
    def from_ingest_json(cls, path: Path, dataset: str, supervision: str) -> DataSource:
        return cls(dataset=dataset, supervision=supervision, ingest=json.loads(Path(path).read_text()))


def input_facts(patch_hw: tuple[int, int], canvas: Canvas | None = None) -> dict:
    """How a (h, w, 3) uint8 patch becomes the model input (what :class:`~lesionmtl.tensors.ImageBatcher` does)."""
    return {
        "canvas": (canvas or Canvas()).as_dict(),
        "patch_size": [int(patch_hw[0]), int(patch_hw[1])],
        "channels": 3,
        "dtype": "uint8",
        "scale": 1 / 255,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "pad_multiple": PAD_MULTIPLE,
    }


def build_checkpoint(
    state_dict: dict[str, torch.Tensor],
    *,
    model: dict,
    patch_hw: tuple[int, int],
    canvas: Canvas | None = None,
    training: dict,
    n_train: int,
    n_val: int,
    source: DataSource | None,
    software: dict,
) -> dict:
    """The checkpoint dict (see the module docstring); ``model`` holds the arguments of
    :func:`lesionmtl.models.build_model` that rebuild it, and its ``parameters`` count."""
    ingest = source.ingest if source is not None else {}
    patches = None
    if source is not None:
        patches = {
            "dataset_format": ingest["format"],
            "patch_size": list(ingest["patch_size"]),
            "reader_options": ingest.get("reader_options", {}),
        }
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": dict(model),
        "input": input_facts(patch_hw, canvas),
        "patches": patches,
        "training_data": {
            "dataset": source.dataset if source is not None else None,
            "supervision": source.supervision if source is not None else None,
            "n_lesions": ingest.get("n_lesions"),
            "per_split": ingest.get("per_split"),
            "image_layouts": ingest.get("image_layouts"),
            "n_train": int(n_train),
            "n_val": int(n_val),
        },
        "training": dict(training),
        "software": {"lesionmtl": __version__, **software},
        "state_dict": state_dict,
    }


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Write atomically, after checking that it loads with ``weights_only=True`` (plain values only)."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
        load_checkpoint(tmp)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint safely (``weights_only=True``), tensors on the CPU; refuse other layouts.

    The tensors are memory-mapped: reading the facts of a large checkpoint does not read its weights.
    """
    if not Path(path).is_file():
        raise DataError(path, "no such checkpoint file (a trained run's model.pt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a pickled object, a truncated file, not a torch file at all
        raise DataError(path, f"not a loadable lesionmtl checkpoint ({exc})") from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise DataError(path, f"not a lesionmtl checkpoint (no format {FORMAT!r})")
    if checkpoint.get("version") != VERSION:
        raise DataError(
            path, f"checkpoint version {checkpoint.get('version')!r}, this lesionmtl reads version {VERSION}"
        )
    return checkpoint


def checkpoint_facts(path: Path) -> dict:
    """Everything a checkpoint says about its model, without the weights and without building it."""
    return {k: v for k, v in load_checkpoint(path).items() if k != "state_dict"}
