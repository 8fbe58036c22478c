"""One training loop for every model: joint loss, Adam, early stopping, resumable checkpoints.

Loss (paper eq. 3): ``alpha_seg * BCE(mask) + alpha_cls * CE(cluster)``; models without a cluster
head use the first term only. Early stopping watches the validation segmentation loss. The whole
training state (model, optimiser, RNG, early-stopping state, history, best weights) is written
atomically to ``state_dir`` after the first epoch, then after each epoch that ends
``state_every_s`` or more after the last write (short CPU epochs need not each write ~190 MB), so
a killed job restarted with the same arguments continues from its last saved epoch. On the CPU it
ends with the same weights as an uninterrupted run; on CUDA,
where cuDNN picks non-deterministic kernels (``cudnn.benchmark``), with equally good ones.
The state, like the final checkpoint (:mod:`lesionmtl.checkpoints`), holds only tensors and plain
values and is loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lesionmtl import __version__
from lesionmtl.architectures import architecture
from lesionmtl.checkpoints import DataSource, build_checkpoint, save_checkpoint
from lesionmtl.defaults import schema_defaults
from lesionmtl.devices import select_device
from lesionmtl.io import atomic_path, save_json, save_parquet
from lesionmtl.models import (
    WITH_CLUSTER_HEAD,
    build_model,
    count_parameters,
    forward_outputs,
    needs_clusters,
)
from lesionmtl.tensors import Canvas, ImageBatcher, memory_format

log = logging.getLogger(__name__)


_TRAINING, _EXPERIMENT = schema_defaults("training"), schema_defaults("experiment")


@dataclass
class TrainConfig:
    """One run's settings; every default is the config schema's (the paper's), stated nowhere else."""

    arch: str
    seed: int = 0
    encoder: str = _TRAINING["encoder"]
    encoder_weights: str | None = _TRAINING["encoder_weights"]
    epochs: int = _TRAINING["epochs"]
    patience: int = _TRAINING["patience"]
    batch_size: int = _TRAINING["batch_size"]
    lr: float = _TRAINING["lr"]
    alpha_seg: float = _EXPERIMENT["alpha_seg"]
    alpha_cls: float = _EXPERIMENT["alpha_cls"]
    threads: int | None = None  # None: torch's own choice (the workflow passes the job's threads)
    device: str = _TRAINING["device"]
    mixed_precision: bool = _TRAINING["mixed_precision"]  # bf16 autocast, CUDA only
    output_stride: int = _TRAINING["output_stride"]  # DeepLabV3+ encoder: 16 (paper) or 8
    head_dropout: float = _TRAINING["head_dropout"]  # before the cluster head's linear layer (A1+L, U-Net+L)
    # The network's input canvas (lesionmtl.tensors.Canvas): crop, or reflect (the released 384x480).
    canvas: dict = field(default_factory=lambda: schema_defaults("training")["canvas"])
    # Seconds between two writes of the resumable state (0: after every epoch); not a result setting.
    state_every_s: float = 30.0


# Settings that do not shape the result: a saved state resumes, and a checkpoint records, without them.
RUNTIME_SETTINGS = ("threads", "device", "state_every_s")


@dataclass
class TrainingData:
    """Patches and targets of one dataset, indexed by patch row."""

    images: np.ndarray  # (N, H, W, 3) uint8
    masks: np.ndarray  # (N, H, W) bool: the supervision (ellipse, GrabCut or ground truth)
    train_idx: np.ndarray
    val_idx: np.ndarray
    clusters: np.ndarray | None = None  # (N,) int cluster label per patch row
    n_clusters: int | None = None


def load_training_data(
    lesions_path: Path, images_path: Path, masks_path: Path, clusters_path: Path | None = None
) -> TrainingData:
    """Read the ingest, pseudo-label and clustering artefacts of one dataset."""
    lesions = pd.read_parquet(lesions_path).sort_values("patch_index")
    images = np.load(images_path, mmap_mode="r")
    masks = np.load(masks_path, mmap_mode="r")
    if len(images) != len(lesions) or masks.shape != images.shape[:3]:
        raise ValueError(
            f"{images_path}: {len(images)} patches and {masks_path}: masks {masks.shape} "
            f"do not match {lesions_path}: {len(lesions)} lesions"
        )
    rows = lesions["patch_index"].to_numpy()
    split = lesions["split"].to_numpy()
    clusters = n_clusters = None
    if clusters_path is not None:
        table = pd.read_parquet(clusters_path).set_index("lesion_id")
        missing = set(lesions["lesion_id"]) - set(table.index)
        if missing:
            raise ValueError(f"{clusters_path}: no cluster for lesions {sorted(missing)[:5]}")
        clusters = np.empty(len(lesions), dtype=np.int64)
        clusters[rows] = table.loc[lesions["lesion_id"], "cluster"].to_numpy()
        n_clusters = int(table["cluster"].max()) + 1
    return TrainingData(
        images=np.asarray(images),
        masks=np.asarray(masks, dtype=bool),
        train_idx=rows[split == "train"],
        val_idx=rows[split == "val"],
        clusters=clusters,
        n_clusters=n_clusters,
    )


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def _epoch_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    """Shuffled batches; a trailing batch of one is dropped (BatchNorm cannot train on it)."""
    order = indices[torch.randperm(len(indices), generator=generator).numpy()]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [b for b in batches if len(b) > 1]


def _cluster_pair_batches(
    indices: np.ndarray, clusters: np.ndarray, batch_size: int, generator: torch.Generator
) -> list[np.ndarray]:
    """Batches of pairs from the same cluster, laid out as the co-segmentation net pairs them.

    Members of each cluster are shuffled and paired off; odd ones out are paired with each other.
    A batch holds B/2 pairs as [first halves..., second halves...], so row i meets row i + B/2.
    """
    shuffled = indices[torch.randperm(len(indices), generator=generator).numpy()]
    pairs, leftovers = [], []
    for cluster in np.unique(clusters[shuffled]):
        members = shuffled[clusters[shuffled] == cluster]
        pairs += [members[i : i + 2] for i in range(0, len(members) - 1, 2)]
        leftovers += list(members[len(members) // 2 * 2 :])
    pairs += [np.array(leftovers[i : i + 2]) for i in range(0, len(leftovers) - 1, 2)]
    pairs = [pairs[i] for i in torch.randperm(len(pairs), generator=generator).tolist()]
    per_batch = max(1, batch_size // 2)
    batches = []
    for start in range(0, len(pairs), per_batch):
        chunk = np.stack(pairs[start : start + per_batch])
        batches.append(np.concatenate([chunk[:, 0], chunk[:, 1]]))
    return batches


def _fingerprint(config: TrainConfig, data: TrainingData) -> str:
    """What a saved state must match to be resumed: the settings (not RUNTIME_SETTINGS) and data."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in asdict(config).items() if k not in RUNTIME_SETTINGS}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for array in (data.images, data.masks, data.train_idx, data.val_idx, data.clusters):
        if array is not None:
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array))  # the buffer itself, not a copy of it
    return digest.hexdigest()


class Trainer:
    """Holds model, optimiser and data on one device; ``fit`` runs epochs until done.

    ``fit`` is built from public steps that benchmarks and variants call or override:
    :meth:`epoch_batches`, :meth:`train_step`, :meth:`run_epoch`, :meth:`validation_step`,
    :meth:`validate`, :meth:`on_epoch_end` and :meth:`finished`.
    """

    def __init__(self, config: TrainConfig, data: TrainingData, state_dir: Path):
        if needs_clusters(config.arch) and data.clusters is None:
            raise ValueError(f"architecture {config.arch!r} needs cluster labels")
        if len(data.train_idx) < 2 or len(data.val_idx) < 1:
            raise ValueError(
                f"training needs >= 2 train and >= 1 val patches, got {len(data.train_idx)} and {len(data.val_idx)}"
            )
        self.config = config
        self.data = data
        self.state_dir = Path(state_dir)
        if config.threads:
            torch.set_num_threads(config.threads)
        _seed_everything(config.seed)
        self.device = select_device(config.device)
        self.model = build_model(
            config.arch,
            encoder=config.encoder,
            n_clusters=data.n_clusters if config.arch in WITH_CLUSTER_HEAD else None,
            encoder_weights=config.encoder_weights,
            head_dropout=config.head_dropout,
            output_stride=config.output_stride,
        ).to(self.device, memory_format=memory_format(self.device))
        # The fused kernel: one pass over all parameters instead of ~10 per tensor; on the CPU it
        # cut the default model's optimiser step from 60 to 18 ms of a 290 ms step (a one-off
        # reading, 2026-12-02, benchmarks/README.md).
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, fused=self.device.type in ("cpu", "cuda")
        )
        self.batcher = ImageBatcher(data.images, self.device, Canvas.from_dict(config.canvas))
        self.masks = torch.from_numpy(np.ascontiguousarray(data.masks)).to(self.device)
        self.clusters = torch.from_numpy(data.clusters).to(self.device) if data.clusters is not None else None
        self.generator = torch.Generator().manual_seed(config.seed)
        self.autocast = config.mixed_precision and self.device.type == "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.history: list[dict] = []
        self.best_weights: dict[str, torch.Tensor] | None = None  # on the CPU, saved with the state
        self._saved_at: float | None = None  # time.monotonic() of the last state write
        self.best_loss = float("inf")
        self.bad_epochs = 0
        self.fingerprint = _fingerprint(config, data)

    # -- steps and epochs (public: the loop below and the benchmarks use them) -----------------
    def set_memory_format(self, layout: torch.memory_format) -> None:
        """Lay out model and inputs as ``layout`` instead of the device's default (benchmarks)."""
        self.model = self.model.to(memory_format=layout)
        self.batcher.memory_format = layout

    def _losses(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        images = self.batcher.batch(rows)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            mask_logits, class_logits = forward_outputs(self.model, images)
        canvas_logits = mask_logits.float()[:, 0]
        mask_logits = self.batcher.crop(canvas_logits)
        idx = torch.as_tensor(rows, device=self.device)
        target = self.masks[idx].float()
        if self.batcher.canvas.loss_on_canvas:  # the released protocol: the mask reflected as the image
            seg = F.binary_cross_entropy_with_logits(canvas_logits, self.batcher.extend(target))
        else:
            seg = F.binary_cross_entropy_with_logits(mask_logits, target)
        cls = None
        if class_logits is not None:
            cls = F.cross_entropy(class_logits.float(), self.clusters[idx])
        return seg, cls, class_logits, mask_logits

    def epoch_batches(self) -> list[np.ndarray]:
        """This epoch's batches of training rows (pairs of one cluster for ``acosegc``)."""
        if architecture(self.config.arch).cluster_pairs:
            return _cluster_pair_batches(
                self.data.train_idx, self.data.clusters, self.config.batch_size, self.generator
            )
        return _epoch_batches(self.data.train_idx, self.config.batch_size, self.generator)

    def train_step(self, rows: np.ndarray) -> dict[str, float]:
        """One optimiser step on the patches ``rows``; their mean ``loss``, ``seg_loss`` and ``cls_loss``.

        Reading the losses waits for the step to finish, so a step has run when this returns.
        """
        self.model.train()
        seg, cls, _, _ = self._losses(rows)
        loss = self.config.alpha_seg * seg + (self.config.alpha_cls * cls if cls is not None else 0.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "seg_loss": seg.item(), "cls_loss": cls.item() if cls is not None else 0.0}

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """Train on every batch of :meth:`epoch_batches`; the patch-weighted mean losses as ``train_*``."""
        sums = {"loss": 0.0, "seg_loss": 0.0, "cls_loss": 0.0}
        batches = self.epoch_batches()
        for rows in tqdm(batches, desc=f"epoch {epoch}", leave=False, mininterval=5):
            for key, value in self.train_step(rows).items():
                sums[key] += value * len(rows)
        n = sum(len(b) for b in batches)
        return {f"train_{k}": v / n for k, v in sums.items()}

    @torch.no_grad()
    def validation_step(self, rows: np.ndarray) -> dict[str, float]:
        """Sums over the patches ``rows``: ``seg_loss``, Dice ``intersection`` and ``total``, ``correct`` clusters."""
        self.model.eval()
        seg, _, class_logits, mask_logits = self._losses(rows)
        idx = torch.as_tensor(rows, device=self.device)
        pred, target = mask_logits > 0, self.masks[idx]
        out = {
            "seg_loss": float(seg) * len(rows),
            "intersection": float((pred & target).sum()),
            "total": float(pred.sum() + target.sum()),
            "correct": 0.0,
        }
        if class_logits is not None:
            out["correct"] = float((class_logits.argmax(1) == self.clusters[idx]).sum())
        return out

    def validate(self) -> dict[str, float]:
        """Validation segmentation loss, Dice over all validation pixels, and cluster accuracy."""
        rows_all, step = self.data.val_idx, self.config.batch_size * 4
        sums = {"seg_loss": 0.0, "intersection": 0.0, "total": 0.0, "correct": 0.0}
        for start in range(0, len(rows_all), step):
            for key, value in self.validation_step(rows_all[start : start + step]).items():
                sums[key] += value
        n = len(rows_all)
        out = {
            "val_seg_loss": sums["seg_loss"] / n,
            "val_dice": 2 * sums["intersection"] / sums["total"] if sums["total"] else 1.0,
        }
        if self.clusters is not None:
            out["val_cls_acc"] = sums["correct"] / n
        return out

    def on_epoch_end(self, row: dict) -> None:
        """Record an epoch's history ``row``: early-stopping state, best weights, resumable state."""
        if row["val_seg_loss"] < self.best_loss:
            self.best_loss, self.bad_epochs = row["val_seg_loss"], 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        self.history.append(row)
        if self._saved_at is None or time.monotonic() - self._saved_at >= self.config.state_every_s:
            self._save_state()
        log.info(
            "epoch %d/%d  train loss %.4f  val seg loss %.4f  val dice %.3f%s  (%.1fs)",
            row["epoch"],
            self.config.epochs,
            row["train_loss"],
            row["val_seg_loss"],
            row["val_dice"],
            f"  val cls acc {row['val_cls_acc']:.3f}" if "val_cls_acc" in row else "",
            row["seconds"],
        )

    # -- state --------------------------------------------------------------------------------
    def _save_state(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "generator": self.generator.get_state(),
            "history": self.history,
            "best_loss": self.best_loss,
            "bad_epochs": self.bad_epochs,
            "best_weights": self.best_weights,
            "fingerprint": self.fingerprint,
        }
        with atomic_path(self.state_dir / "last.pt") as tmp:
            torch.save(state, tmp)
        self._saved_at = time.monotonic()

    def _resume(self) -> None:
        path = self.state_dir / "last.pt"
        if not path.exists():
            return
        # On the CPU: RNG states must be CPU byte tensors, and load_state_dict moves weights and
        # optimiser state to the parameters' device itself (Adam keeps its step counts on the CPU).
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it belongs to a run with other settings or data", path)
            return
        if "best_weights" not in state:
            log.warning("ignoring %s: written by an older lesionmtl (best weights kept apart)", path)
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.generator.set_state(state["generator"])
        self.history = state["history"]
        self.best_loss = state["best_loss"]
        self.bad_epochs = state["bad_epochs"]
        self.best_weights = state["best_weights"]
        log.info("resumed from %s after epoch %d", path, len(self.history))

    def finished(self) -> bool:
        """Whether the epoch budget or the patience has run out."""
        return len(self.history) >= self.config.epochs or self.bad_epochs >= self.config.patience

    # -- main ---------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train until the epoch budget or the patience runs out; return the run summary."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._resume()
        while not self.finished():
            epoch = len(self.history) + 1
            started = time.perf_counter()
            row = {"epoch": epoch, **self.run_epoch(epoch), **self.validate()}
            row["seconds"] = time.perf_counter() - started
            self.on_epoch_end(row)
        best_epoch = int(np.argmin([h["val_seg_loss"] for h in self.history])) + 1
        return {
            "epochs_run": len(self.history),
            "best_epoch": best_epoch,
            "best_val_seg_loss": self.best_loss,
            "stopped_early": len(self.history) < self.config.epochs,
            "train_seconds": float(sum(h["seconds"] for h in self.history)),
        }


def environment_facts(device: torch.device) -> dict:
    """Versions and hardware, recorded next to every run."""
    import segmentation_models_pytorch as smp

    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "segmentation_models_pytorch": smp.__version__,
        "numpy": np.__version__,
        "lesionmtl": __version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def train_run(
    config: TrainConfig,
    data: TrainingData,
    out_model: Path,
    out_history: Path,
    out_run: Path,
    state_dir: Path,
    source: DataSource | None = None,
    keep_state: bool = False,
) -> dict:
    """Train one run and write its best checkpoint (:mod:`lesionmtl.checkpoints`), per-epoch
    history and run facts. ``source``: the dataset the patches came from, so that the checkpoint
    says how to cut patches for it (None for bare arrays, as in tests and benchmarks).
    ``keep_state``: leave the resumable state for the caller to :func:`discard_state` once the
    job's other outputs are written."""
    wall = time.perf_counter()
    trainer = Trainer(config, data, state_dir)
    summary = trainer.fit()
    best_state = trainer.best_weights
    environment = environment_facts(trainer.device)
    settings = {k: v for k, v in asdict(config).items() if k not in RUNTIME_SETTINGS}
    checkpoint = build_checkpoint(
        best_state,
        model={
            "arch": config.arch,
            "encoder": config.encoder,
            "n_clusters": data.n_clusters if config.arch in WITH_CLUSTER_HEAD else None,
            "in_channels": 3,
            "head_dropout": config.head_dropout,
            "output_stride": config.output_stride,
            "parameters": count_parameters(trainer.model),
        },
        patch_hw=data.images.shape[1:3],
        canvas=Canvas.from_dict(config.canvas),
        training={**settings, **{k: summary[k] for k in ("epochs_run", "best_epoch", "best_val_seg_loss")}},
        n_train=len(data.train_idx),
        n_val=len(data.val_idx),
        source=source,
        software={k: str(environment[k]) for k in ("torch", "segmentation_models_pytorch")},  # TorchVersion is no str
    )
    save_checkpoint(out_model, checkpoint)
    save_parquet(out_history, pd.DataFrame(trainer.history))
    facts = {
        **summary,
        "wall_seconds": time.perf_counter() - wall,
        "seed": config.seed,
        "config": asdict(config),
        "n_train": int(len(data.train_idx)),
        "n_val": int(len(data.val_idx)),
        "parameters": count_parameters(trainer.model),
        **environment,
    }
    save_json(out_run, facts)
    if not keep_state:
        discard_state(state_dir)
    return facts


def discard_state(state_dir: Path) -> None:
    """Delete a complete run's resumable state (no longer needed)."""
    shutil.rmtree(state_dir, ignore_errors=True)
