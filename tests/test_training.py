"""Real training steps on a tiny encoder: learning, early stopping, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lesionmtl.inference import Predictor
from lesionmtl.training import TrainConfig, Trainer, TrainingData, _cluster_pair_batches, train_run


def squares(n: int = 40, size: int = 48, seed: int = 0) -> TrainingData:
    """Bright squares of varying size on noise; the cluster label is the size class."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=bool)
    clusters = rng.integers(0, 3, n)
    for i, c in enumerate(clusters):
        half = 5 + 5 * c
        y, x = rng.integers(half, size - half, 2)
        masks[i, y - half : y + half, x - half : x + half] = True
    images[masks] = 220
    n_train = n * 3 // 4
    return TrainingData(images, masks, np.arange(n_train), np.arange(n_train, n), clusters=clusters, n_clusters=3)


def _train(tmp_path: Path, config: TrainConfig, data: TrainingData) -> dict:
    return train_run(
        config, data, tmp_path / "model.pt", tmp_path / "history.parquet", tmp_path / "run.json", tmp_path / "state"
    )


def test_joint_training_learns_masks_and_classes(tmp_path):
    torch.set_num_threads(1)
    data = squares()
    facts = _train(tmp_path, TrainConfig(arch="a1l", encoder="resnet18", epochs=6, patience=6, seed=0), data)
    history = pd.read_parquet(tmp_path / "history.parquet")
    assert list(history["epoch"]) == list(range(1, 7))
    assert history["val_seg_loss"].iloc[-1] < history["val_seg_loss"].iloc[0]
    assert {"train_cls_loss", "val_cls_acc", "val_dice"} <= set(history.columns)
    assert facts["best_epoch"] == int(history["val_seg_loss"].idxmin()) + 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["device"] == "cpu" and run["seed"] == 0 and "torch" in run
    assert not (tmp_path / "state").exists()  # finished runs leave no resumable state behind

    predictor = Predictor.from_checkpoint(tmp_path / "model.pt")
    assert predictor.facts["model"]["n_clusters"] == 3
    prediction = predictor.predict(data.images[30:])
    assert prediction.probabilities.shape == data.masks[30:].shape and prediction.class_logits.shape == (10, 3)
    pred = prediction.masks()
    dice = 2 * (pred & data.masks[30:]).sum() / (pred.sum() + data.masks[30:].sum())
    assert dice > 0.5


def test_early_stopping_stops_when_validation_loss_stalls(tmp_path):
    data = squares(n=24, size=32)
    data.masks[data.val_idx] = ~data.masks[data.val_idx]  # learning the task makes validation worse
    config = TrainConfig(arch="a1", encoder="resnet18", epochs=30, patience=1, seed=0)
    facts = _train(tmp_path, config, data)
    assert facts["stopped_early"] and facts["epochs_run"] < 30
    assert facts["epochs_run"] - facts["best_epoch"] == 1


def step_epochs(trainer: Trainer, epochs: int | None = None) -> None:
    """Run epochs by hand through the public steps, as fit does: ``epochs`` of them, or until done."""
    while not trainer.finished() and (epochs is None or len(trainer.history) < epochs):
        epoch = len(trainer.history) + 1
        trainer.on_epoch_end({"epoch": epoch, **trainer.run_epoch(epoch), **trainer.validate(), "seconds": 0.0})


def test_the_public_steps_are_the_training_loop(tmp_path):
    """Driving run_epoch / validate / on_epoch_end by hand (as benchmarks and variants do) trains
    exactly as fit does."""
    torch.set_num_threads(1)
    data = squares(n=16, size=32)
    config = TrainConfig(arch="a1l", encoder="resnet18", epochs=2, patience=2, seed=0, state_every_s=0)
    fitted = Trainer(config, data, tmp_path / "fit")
    fitted.fit()
    stepped = Trainer(config, data, tmp_path / "steps")
    step_epochs(stepped)
    pd.testing.assert_frame_equal(
        pd.DataFrame(fitted.history).drop(columns="seconds"), pd.DataFrame(stepped.history).drop(columns="seconds")
    )
    state = torch.load(tmp_path / "steps" / "last.pt", weights_only=True)
    assert len(state["history"]) == 2 and state["best_weights"].keys() == stepped.model.state_dict().keys()
    losses = stepped.train_step(data.train_idx[:4])
    assert set(losses) == {"loss", "seg_loss", "cls_loss"} and losses["cls_loss"] > 0
    assert losses["loss"] == pytest.approx(50 * losses["seg_loss"] + losses["cls_loss"], rel=1e-5)


def test_short_epochs_write_the_state_after_the_first_and_then_every_state_every_s(tmp_path):
    torch.set_num_threads(1)
    data = squares(n=16, size=32)
    config = TrainConfig(arch="a1", encoder="resnet18", epochs=3, patience=3, seed=0, state_every_s=3600)
    straight = Trainer(config, data, tmp_path / "straight")
    straight.fit()
    step_epochs(Trainer(config, data, tmp_path / "killed"), 2)  # killed after epoch 2: epoch 1's state only
    assert len(torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["history"]) == 1
    resumed = Trainer(config, data, tmp_path / "killed")
    resumed.fit()  # resumes after epoch 1 and ends as the uninterrupted run
    assert [h["val_seg_loss"] for h in resumed.history] == [h["val_seg_loss"] for h in straight.history]
    for name, weight in straight.best_weights.items():
        assert torch.equal(weight, resumed.best_weights[name]), name


def test_cluster_model_without_clusters_is_refused(tmp_path):
    data = squares()
    data.clusters = None
    with pytest.raises(ValueError, match="needs cluster labels"):
        _train(tmp_path, TrainConfig(arch="a1l", encoder="resnet18", epochs=1), data)


def resumable_run(out: Path) -> None:
    """A1+L for 3 epochs, its state saved after each, into ``out`` (resumed from there if present)."""
    torch.set_num_threads(1)
    config = TrainConfig(arch="a1l", encoder="resnet18", epochs=3, patience=3, seed=3, threads=1, state_every_s=0)
    train_run(
        config, squares(n=24, size=32), out / "model.pt", out / "history.parquet", out / "run.json", out / "state"
    )


# The same run in a process of its own, to be killed.
TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_training import resumable_run
    resumable_run(Path(sys.argv[1]))
    """
)


def _kill_training(out: Path, after_epochs: int) -> None:
    """Start the run in a process of its own and kill -9 it once its state holds ``after_epochs``."""
    script = TRAIN_SCRIPT.format(tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stderr=subprocess.DEVNULL)
    state = out / "state" / "last.pt"
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and len(torch.load(state, weights_only=True)["history"]) >= after_epochs:
            break
        assert proc.poll() is None, "training finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights(tmp_path):
    uninterrupted, resumed = tmp_path / "straight", tmp_path / "resumed"
    resumable_run(uninterrupted)
    _kill_training(resumed, after_epochs=1)
    assert not (resumed / "model.pt").exists()
    saved = torch.load(resumed / "state" / "last.pt", weights_only=True)["history"]
    resumable_run(resumed)  # here, not in the killed process: the same run from the state it left
    # it went on from the saved epochs (their timings are the killed process's), not from scratch
    history = pd.read_parquet(resumed / "history.parquet")
    assert list(history["seconds"][: len(saved)]) == [epoch["seconds"] for epoch in saved]

    a = torch.load(uninterrupted / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(resumed / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    pd.testing.assert_frame_equal(
        pd.read_parquet(uninterrupted / "history.parquet").drop(columns="seconds"),
        pd.read_parquet(resumed / "history.parquet").drop(columns="seconds"),
    )


def test_cluster_pairing_pairs_lesions_of_one_cluster():
    rows = np.arange(40)
    clusters = np.repeat([0, 1, 2, 3], 10)
    batches = _cluster_pair_batches(rows, clusters, 8, torch.Generator().manual_seed(0))
    assert sorted(np.concatenate(batches)) == list(rows)  # every lesion once
    for batch in batches:
        half = len(batch) // 2
        assert (clusters[batch[:half]] == clusters[batch[half:]]).all()


def test_co_segmentation_trains_on_pairs(tmp_path):
    data = squares(n=24, size=32)
    facts = _train(tmp_path, TrainConfig(arch="acosegc", encoder="resnet18", epochs=2, batch_size=8, seed=0), data)
    assert facts["epochs_run"] == 2
    predictor = Predictor.from_checkpoint(tmp_path / "model.pt")
    assert predictor.arch == "acosegc" and predictor.facts["model"]["n_clusters"] is None
    prediction = predictor.predict(data.images[:4], partners=data.images[4:8])
    assert prediction.probabilities.shape == (4, 32, 32) and prediction.class_logits is None
    with pytest.raises(ValueError, match="needs a partner patch"):
        predictor.predict(data.images[:4])
