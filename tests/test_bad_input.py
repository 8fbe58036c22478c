"""Every entry of the bad-input catalogue (tests/bad_input.py, docs/bad_input.md) through the real
reader: ingest stops with a message naming the file and row, or rejects the lesion with a kind
and a reason, or records what it changed; nothing reaches lesions.parquet unrecorded."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from lesionmtl.datasets import DataError
from lesionmtl.datasets.base import DUPLICATE
from lesionmtl.datasets.ingest import ingest
from lesionmtl.fetching.archives import extract
from lesionmtl.report.data_summary import data_summary
from tests.bad_input import CASES, PATCH, SYNTH, THROUGH_SNAKEMAKE, Case, archive_in, damaged_copy
from tests.conftest import REPO


@pytest.fixture(scope="module")
def reference(pristine_datasets, tmp_path_factory) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The pristine datasets' lesion and rejection tables."""
    out = {}
    for name, (fmt, _) in SYNTH.items():
        where = tmp_path_factory.mktemp(f"reference-{name}")
        table = ingest(fmt, pristine_datasets[name], where, patch_size=PATCH, seed=0)
        out[name] = table, pd.read_parquet(where / "rejected.parquet")
    return out


def run(case: Case, raw: Path, out: Path) -> pd.DataFrame:
    if case.dataset == "archive":
        extract(archive_in(raw), out)
        return pd.DataFrame()
    return ingest(SYNTH[case.dataset][0], raw, out, patch_size=PATCH, seed=0)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, pristine_datasets, reference, tmp_path):
    raw, out = damaged_copy(case, pristine_datasets, tmp_path), tmp_path / "out"
    if case.stop:
        with pytest.raises(DataError) as info:
            run(case, raw, out)
        message = str(info.value)
        assert "\n" not in message
        for needle in case.stop:
            assert needle in message, message
        assert not (out / "lesions.parquet").exists()
        assert not list(tmp_path.glob("**/outside.txt"))
        return
    table = run(case, raw, out)
    expected, expected_rejected = reference[case.dataset]
    rejected = pd.read_parquet(out / "rejected.parquet")
    if case.reject:
        kind, item = case.reject
        new = rejected[~rejected["item"].isin(expected_rejected["item"])]
        assert len(new) == 1 and new["kind"].iloc[0] == kind and item in new["item"].iloc[0], new
        assert new["reason"].iloc[0]
        assert new["item"].iloc[0] not in set(table["lesion_id"])
        expected = expected[~expected["lesion_id"].isin(new["item"])]
    else:
        assert rejected.equals(expected_rejected)
    # Every lesion but the rejected one exactly as read from the pristine data (same ids: a
    # dropped row does not renumber the others), and a change only where noted.
    same = ["lesion_id", "split", "group_id", "source", "r_x11", "r_y11", "r_x12", "r_y12", "major", "minor"]
    assert table[same].reset_index(drop=True).equals(expected[same].reset_index(drop=True))
    noted = table[table["notes"] != ""]
    assert len(noted) == (case.note is not None)
    assert all(case.note in note for note in noted["notes"])


def test_catalogue_is_documented():
    """docs/bad_input.md has a row for every catalogue entry, and no other."""
    rows = re.findall(r"^\| `([a-z0-9-]+)`( ★)? \|", (REPO / "docs" / "bad_input.md").read_text(), re.MULTILINE)
    assert sorted(case for case, _ in rows) == sorted(c.id for c in CASES)
    assert sorted(case for case, star in rows if star) == sorted(THROUGH_SNAKEMAKE)
    assert len(CASES) >= 30 and {c.dataset for c in CASES} == {*SYNTH, "archive"}


def test_data_table_counts_rejected_and_noted_lesions(pristine_datasets, reference, tmp_path):
    """The report's data table counts a rejection per kind and the lesions changed on purpose."""
    raw = damaged_copy(next(c for c in CASES if c.id == "dl-duplicate-row"), pristine_datasets, tmp_path)
    next(c for c in CASES if c.id == "dl-short-axis-longer").damage(raw)
    ingest("deeplesion", raw, tmp_path / "out", patch_size=PATCH, seed=0)
    outputs = {ext: tmp_path / f"data.{ext}" for ext in ("md", "tex", "csv")}
    summary = [str(tmp_path / "out" / "ingest.json")], [str(tmp_path / "out" / "rejected.parquet")]
    row = data_summary(["dl"], *summary, outputs, "test").iloc[0]
    assert row["Changed (notes)"] == 1 and f"{DUPLICATE} 1" in row["Why dropped"]
    dropped = row["Dropped"]  # e.g. "1 (val 1)": the duplicate is counted in its row's split
    assert dropped.startswith(f"{len(reference['deeplesion'][1]) + 1} (") and "no split" not in dropped
