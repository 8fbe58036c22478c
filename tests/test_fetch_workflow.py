"""The real-data part of the DAG, run by Snakemake: plan the paper run with no network, and fetch,
verify, unpack and ingest all three datasets from a local HTTP mirror of the official files."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from lesionmtl.datasets.ingest import ingest
from tests.conftest import REPO, TINY, planned_jobs, snakemake
from tests.release_fixtures import (
    dataverse_release,
    deeplesion_release,
    fixture_sources,
    msd_release,
    serving,
    synthetic,
)

PATCH = 32
FORMATS = {"deeplesion": "data/DeepLesion", "lits": "data/LiTS", "ham": "data/HAM10000"}
N_FILES = {"deeplesion": 58, "lits": 1, "ham": 4}  # the real release lists
FIXTURE_ZIPS = (
    4  # DeepLesion archives of the mirror run (56 in the unit tests): 63 Snakemake jobs would take a minute more
)


def test_paper_config_plans_download_through_report_without_network(tmp_path):
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }  # any request would fail
    result = snakemake(tmp_path, "-n", "--configfile", str(REPO / "configs" / "paper.yaml"), env=env)
    jobs = planned_jobs(result)
    assert jobs["fetch"] == sum(N_FILES.values())
    assert jobs["ingest"] == 3 and jobs["train"] > 0 and jobs["report_table1"] == 1 and jobs["all"] == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()
    said = result.stderr + result.stdout  # before the run, and a dry run still plans everything
    assert "without a direct download link: data/DeepLesion/MD5_checksums.txt, data/DeepLesion/DL_info.csv" in said


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """The three datasets downloaded from a local mirror and ingested by one Snakemake call."""
    root = tmp_path_factory.mktemp("mirror")
    www, work = root / "www", root / "work"
    deeplesion_release(www, root, n_zips=FIXTURE_ZIPS)
    tar = msd_release(www, root)
    listing = dataverse_release(www, root)
    work.mkdir()
    env = {
        **os.environ,
        "LESIONMTL_SOURCES": str(fixture_sources(root / "sources.yaml", tar, deeplesion_zips=FIXTURE_ZIPS)),
    }
    with serving(www, listing) as server:
        datasets = {
            fmt: {
                "format": fmt,
                "source": "download",
                "raw_dir": raw,
                "mirror": server.url,
                "patch_size": PATCH,
                "k": 3,
            }
            for fmt, raw in FORMATS.items()
        }
        datasets["deeplesion"]["keep_margin"] = PATCH // 2
        datasets["deeplesion"]["score_against"] = "grabcut"
        (work / "config.yaml").write_text(yaml.safe_dump({**TINY, "datasets": datasets}))
        targets = [f"results/{fmt}/lesions.parquet" for fmt in FORMATS]
        first = snakemake(work, *targets, env=env)
        again = snakemake(work, *targets, "-n", env=env)
        requests = list(server.requests)
        # what a script edit does to a finished fetch: Snakemake runs it again
        forced = snakemake(work, "data/HAM10000/.fetched/HAM10000_images_part_1.zip.json", "--force", env=env)
        forced_requests = server.requests[len(requests) :]
    return root, work, first, again, requests, forced, forced_requests


@pytest.mark.slow
def test_snakemake_downloads_verifies_unpacks_and_ingests_every_dataset(fetched):
    root, work, first, again, requests, *_ = fetched
    assert first.returncode == 0, first.stderr[-5000:]
    fetched_files = {**N_FILES, "deeplesion": 2 + FIXTURE_ZIPS}
    for fmt, raw in FORMATS.items():
        receipts = sorted((work / raw / ".fetched").glob("*.json"))
        assert len(receipts) == fetched_files[fmt]
        for receipt in map(json.loads, (r.read_text() for r in receipts)):
            assert receipt["checksum"] is not None or receipt["file"] in ("MD5_checksums.txt",), receipt
        assert not list((work / raw).glob("*.zip")) and not list((work / raw).glob("*.tar")), "archives kept"
        ours = pd.read_parquet(work / "results" / fmt / "lesions.parquet")
        theirs = ingest(fmt, synthetic(fmt, root), root / "direct" / fmt, patch_size=PATCH, seed=0)
        assert len(ours) == len(theirs) > 0
        assert (ours.groupby("group_id")["split"].nunique() == 1).all(), f"{fmt}: a group in two splits"
        assert ours[["r_x11", "r_y11", "r_x12", "r_y12"]].equals(theirs[["r_x11", "r_y11", "r_x12", "r_y12"]])
        np.testing.assert_array_equal(
            np.load(work / "results" / fmt / "patches" / "images.npy"),
            np.load(root / "direct" / fmt / "patches" / "images.npy"),
        )
    downloaded = [path for path, _ in requests if not path.startswith("/api/datasets")]
    assert len(downloaded) == len(set(downloaded)) == sum(fetched_files.values()), "a file was downloaded twice"


@pytest.mark.slow
def test_second_run_has_nothing_to_fetch(fetched):
    _, _, _, again, _, forced, forced_requests = fetched
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert forced_requests == [], "a rerun of a finished fetch downloaded again"
