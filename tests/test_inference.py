"""Checkpoints carry what inference needs as plain values; the Predictor segments from them alone."""

from pathlib import Path

import numpy as np
import pytest
import torch

from lesionmtl.checkpoints import DataSource, checkpoint_facts, load_checkpoint
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.inference import Predictor
from lesionmtl.training import TrainConfig, load_training_data, train_run


@pytest.fixture(scope="module")
def lits_run(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny synthetic LiTS dataset, ingested, and an A1 trained on it for one epoch: (data dir, run dir)."""
    root = tmp_path_factory.mktemp("lits")
    write_synthetic("lits", root / "raw", n_cases=4, image_size=64, seed=3)
    data_dir, run = root / "data", root / "run"
    ingest("lits", root / "raw", data_dir, patch_size=32, seed=0, split_fractions=(0.5, 0.25, 0.25), pad=10)
    data = load_training_data(
        data_dir / "lesions.parquet", data_dir / "patches" / "images.npy", data_dir / "patches" / "gt_masks.npy"
    )
    source = DataSource.from_ingest_json(data_dir / "ingest.json", "tiny_lits", "full")
    config = TrainConfig(arch="a1", encoder="resnet18", epochs=1, seed=0, threads=1)
    train_run(config, data, run / "model.pt", run / "history.parquet", run / "run.json", run / "state", source)
    return data_dir, run


def test_checkpoint_says_how_patches_were_cut_and_what_it_learnt_from(lits_run):
    data_dir, run = lits_run
    facts = checkpoint_facts(run / "model.pt")
    assert "state_dict" not in facts
    assert facts["model"] == {
        "arch": "a1",
        "encoder": "resnet18",
        "n_clusters": None,
        "in_channels": 3,
        "head_dropout": 0.2,
        "output_stride": 16,
        "parameters": facts["model"]["parameters"],
    }
    assert facts["input"]["patch_size"] == [32, 32] and facts["input"]["pad_multiple"] == 16
    assert facts["input"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # The reader's options as used, its defaults filled in: the HU window comes from the default.
    assert facts["patches"]["dataset_format"] == "lits" and facts["patches"]["patch_size"] == [32, 32]
    assert facts["patches"]["reader_options"]["pad"] == 10
    assert facts["patches"]["reader_options"]["window"] == [-100.0, 200.0]
    n_lesions = len(np.load(data_dir / "patches" / "images.npy"))
    assert facts["training_data"]["dataset"] == "tiny_lits" and facts["training_data"]["n_lesions"] == n_lesions
    assert facts["training_data"]["supervision"] == "full"
    assert sum(facts["training_data"]["per_split"].values()) == n_lesions
    assert facts["training"]["arch"] == "a1" and facts["training"]["epochs_run"] == 1
    # Nothing but tensors and plain values: the stock safe loader reads it.
    assert set(torch.load(run / "model.pt", weights_only=True)) == {*facts, "state_dict"}


def test_predictor_rebuilds_the_model_from_the_checkpoint_alone(lits_run):
    data_dir, run = lits_run
    images = np.load(data_dir / "patches" / "images.npy")[:5]
    predictor = Predictor.from_checkpoint(run / "model.pt", device="cpu")
    prediction = predictor.predict(images)
    assert prediction.probabilities.shape == (5, 32, 32) and prediction.probabilities.dtype == np.float32
    assert ((prediction.probabilities >= 0) & (prediction.probabilities <= 1)).all()
    assert prediction.class_logits is None
    assert (prediction.masks(0.5) == (prediction.probabilities >= 0.5)).all()
    # Batching does not change the result.
    one_by_one = Predictor.from_checkpoint(run / "model.pt", batch_size=1).predict(images)
    np.testing.assert_allclose(one_by_one.probabilities, prediction.probabilities, atol=1e-5)


def test_predictor_builds_the_output_stride_the_checkpoint_names(lits_run, tmp_path):
    """Stride 8 and 16 have the same weights: only the checkpoint's word tells them apart."""
    _, run = lits_run
    checkpoint = load_checkpoint(run / "model.pt")
    checkpoint["model"]["output_stride"] = 8
    torch.save(checkpoint, tmp_path / "os8.pt")
    del checkpoint["model"]["output_stride"]  # a checkpoint from before the switch: 16
    torch.save(checkpoint, tmp_path / "old.pt")
    images = torch.zeros(1, 3, 32, 32)
    for name, side in (("os8.pt", 4), ("old.pt", 2)):
        encoder = Predictor.from_checkpoint(tmp_path / name).model.encoder
        with torch.no_grad():
            assert encoder(images)[-1].shape[-2:] == (side, side), name


def test_predictor_refuses_patches_of_another_size(lits_run):
    _, run = lits_run
    predictor = Predictor.from_checkpoint(run / "model.pt")
    with pytest.raises(ValueError, match=r"expected \(N, 32, 32, 3\) uint8 patches"):
        predictor.predict(np.zeros((2, 48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="takes no partner patches"):
        predictor.predict(np.zeros((2, 32, 32, 3), np.uint8), partners=np.zeros((2, 32, 32, 3), np.uint8))


def test_a_checkpoint_with_pickled_objects_is_refused_unloaded(lits_run, tmp_path):
    _, run = lits_run
    checkpoint = torch.load(run / "model.pt", weights_only=True)
    checkpoint["training"]["raw_dir"] = Path("/somewhere")  # an object: needs unpickling code
    torch.save(checkpoint, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model\.pt: not a loadable lesionmtl checkpoint"):
        load_checkpoint(tmp_path / "model.pt")


def test_a_bare_state_dict_is_not_taken_for_a_checkpoint(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "weights.pt")
    with pytest.raises(ValueError, match=r"weights\.pt: not a lesionmtl checkpoint"):
        Predictor.from_checkpoint(tmp_path / "weights.pt")
