"""Download, verify and unpack the official releases (lesionmtl.fetching), against a real local
HTTP server serving tiny archives in each official layout (tests/release_fixtures.py)."""

from __future__ import annotations

import io
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lesionmtl.datasets import DataError
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.readers.deeplesion import read_deeplesion
from lesionmtl.fetching.archives import UnsafeArchive, extract
from lesionmtl.fetching.deeplesion import SliceKeeper, needed_slices
from lesionmtl.fetching.download import Checksum, ChecksumMismatch, DownloadError, download
from lesionmtl.fetching.fetch import _static_checksum, fetch
from lesionmtl.fetching.releases import check_source, files_to_fetch, files_to_put_by_hand, release
from tests.release_fixtures import (
    DOI,
    dataverse_release,
    deeplesion_release,
    fixture_sources,
    md5,
    msd_release,
    serving,
    synthetic,
)

PATCH = 48


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """Every fixture release under one folder, served over HTTP for the whole module."""
    root = tmp_path_factory.mktemp("releases")
    www = root / "www"
    deeplesion_release(www, root)
    tar = msd_release(www, root)
    listing = dataverse_release(www, root)
    with serving(www, listing) as server:
        yield root, www, server, fixture_sources(root / "sources.yaml", tar)


@pytest.fixture
def blob(tmp_path) -> tuple[Path, str]:
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob.bin").write_bytes(np.random.default_rng(0).bytes(3_000_000))
    return www, md5(www / "blob.bin")


# ----------------------------------------------------------------------------- download


def test_download_streams_verifies_and_renames(blob, tmp_path):
    www, digest = blob
    with serving(www) as server:
        path = download(
            f"{server.url}/blob.bin", tmp_path / "got" / "blob.bin", checksum=Checksum("MD5", digest.upper())
        )
    assert path.read_bytes() == (www / "blob.bin").read_bytes()
    assert not path.with_name("blob.bin.part").exists()
    assert server.requests == [("/blob.bin", None)]


def test_interrupted_download_resumes_with_a_range_request(blob, tmp_path):
    www, digest = blob
    dest = tmp_path / "blob.bin"
    with serving(www) as server:
        server.cut_once["/blob.bin"] = 1_000_000
        with pytest.raises(DownloadError, match=r"interrupted after \d+ bytes.*run again to resume"):
            download(f"{server.url}/blob.bin", dest, checksum=Checksum("md5", digest), retries=0)
        kept = dest.with_name("blob.bin.part").stat().st_size
        assert not dest.exists() and 900_000 < kept <= 1_000_000  # all but the last partial chunk
        download(f"{server.url}/blob.bin", dest, checksum=Checksum("md5", digest), retries=0)
    assert server.requests == [("/blob.bin", None), ("/blob.bin", f"bytes={kept}-")]
    assert md5(dest) == digest


def test_dropped_connection_is_retried_from_where_it_stopped(blob, tmp_path):
    www, digest = blob
    with serving(www) as server:
        server.cut_once["/blob.bin"] = 123_456
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin", checksum=Checksum("md5", digest), retries=1)
    assert [r for _, r in server.requests] == [None, "bytes=65536-"]  # 123,456 sent: one whole 64 KiB chunk kept
    assert md5(tmp_path / "blob.bin") == digest


def test_complete_part_file_is_finished_without_refetching(blob, tmp_path):
    www, digest = blob
    shutil.copy(www / "blob.bin", tmp_path / "blob.bin.part")
    with serving(www) as server:
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin", checksum=Checksum("md5", digest))
    assert server.requests == [("/blob.bin", "bytes=3000000-")]  # answered 416: nothing left to send
    assert md5(tmp_path / "blob.bin") == digest


def test_server_ignoring_the_range_gets_the_file_fetched_whole(blob, tmp_path):
    www, digest = blob
    (tmp_path / "blob.bin.part").write_bytes((www / "blob.bin").read_bytes()[:500_000])
    with serving(www) as server:
        server.ignore_range = True
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin", checksum=Checksum("md5", digest))
    assert server.requests == [("/blob.bin", "bytes=500000-")] and md5(tmp_path / "blob.bin") == digest


def test_part_file_longer_than_the_file_is_dropped_not_trusted(blob, tmp_path):
    www, _ = blob
    (tmp_path / "blob.bin.part").write_bytes((www / "blob.bin").read_bytes() + b"tail")
    with serving(www) as server:
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin")  # no checksum: only the 416 size check protects
    assert server.requests == [("/blob.bin", "bytes=3000004-"), ("/blob.bin", None)]
    assert (tmp_path / "blob.bin").read_bytes() == (www / "blob.bin").read_bytes()


def test_transient_server_error_is_retried(blob, tmp_path):
    www, digest = blob
    with serving(www) as server:
        server.status_once["/blob.bin"] = 503
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin", checksum=Checksum("md5", digest), retries=1)
    assert len(server.requests) == 2 and md5(tmp_path / "blob.bin") == digest


def test_checksum_mismatch_deletes_the_file_and_names_both_digests(blob, tmp_path):
    www, digest = blob
    wrong = "0" * 32
    with serving(www) as server, pytest.raises(ChecksumMismatch) as info:
        download(f"{server.url}/blob.bin", tmp_path / "blob.bin", checksum=Checksum("md5", wrong))
    assert wrong in str(info.value) and digest in str(info.value) and "blob.bin" in str(info.value)
    assert list(tmp_path.iterdir()) == [www]


def test_missing_file_is_an_http_error_naming_the_url(blob, tmp_path):
    www, _ = blob
    with serving(www) as server, pytest.raises(DownloadError, match=r"/nope\.zip: HTTP 404"):
        download(f"{server.url}/nope.zip", tmp_path / "nope.zip")
    assert not (tmp_path / "nope.zip").exists()


# ----------------------------------------------------------------------------- safe extraction


def _zip(path: Path, entries: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


def test_extraction_skips_macos_debris_and_keeps_folders_with_spaces(tmp_path):
    archive = _zip(
        tmp_path / "Training_Batch1.zip",
        {
            "Training Batch 1/volume-0.nii": b"v",
            "Training Batch 1/segmentation-0.nii": b"s",
            "__MACOSX/Training Batch 1/._volume-0.nii": b"junk",
            "Training Batch 1/._volume-0.nii": b"junk",
        },
    )
    written = extract(archive, tmp_path / "out")
    assert sorted(p.as_posix() for p in written) == [
        "Training Batch 1/segmentation-0.nii",
        "Training Batch 1/volume-0.nii",
    ]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == [
        "Training Batch 1",
        "segmentation-0.nii",
        "volume-0.nii",
    ]


@pytest.mark.parametrize(
    "entry", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt", "C:/evil.txt", "a\\..\\evil.txt"]
)
def test_zip_entries_outside_the_target_are_refused_before_writing(tmp_path, entry):
    archive = _zip(tmp_path / "bad.zip", {"good.txt": b"fine", entry: b"evil"})
    target = tmp_path / "out" / "deep"
    with pytest.raises(UnsafeArchive, match=r"bad\.zip: unsafe entry"):
        extract(archive, target)
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "out"]


def test_tar_root_entries_are_fine_and_name_clashes_name_the_archive(tmp_path):
    stage = tmp_path / "stage"
    (stage / "Task").mkdir(parents=True)
    (stage / "Task" / "ok.txt").write_text("ok")
    with tarfile.open(tmp_path / "dot.tar", "w") as tar:
        tar.add(stage, arcname=".")  # entries ".", "./Task", "./Task/ok.txt", as `tar -cf x.tar .` writes
    assert [p.as_posix() for p in extract(tmp_path / "dot.tar", tmp_path / "out")] == ["Task/ok.txt"]
    clash = _zip(tmp_path / "clash.zip", {"a": b"file", "a/b": b"file below a file"})
    with pytest.raises(DataError, match=r"clash\.zip: cannot unpack entry 'a/b'"):
        extract(clash, tmp_path / "out2")


def test_zip_symlink_entry_is_refused(tmp_path):
    archive = _zip(tmp_path / "link.zip", {"good.txt": b"fine"}, links=("passwd",))
    with pytest.raises(UnsafeArchive, match="'passwd' is a link"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "good.txt").exists()


def _tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w") as tar:
        for m in members:
            data = b"x" * m.size
            tar.addfile(m, io.BytesIO(data) if m.isfile() else None)
    return path


def _member(name: str, kind=tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, 3 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "bad",
    [
        _member("../escape.txt"),
        _member("/abs.txt"),
        _member("Task/link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("Task/hard", tarfile.LNKTYPE, "Task/ok.txt"),
        _member("Task/fifo", tarfile.FIFOTYPE),
    ],
)
def test_tar_with_unsafe_member_leaves_nothing_behind(tmp_path, bad):
    archive = _tar(tmp_path / "t.tar", [_member("Task/ok.txt"), bad, _member("Task/after.txt")])
    with pytest.raises(UnsafeArchive, match=r"t\.tar: "):
        extract(archive, tmp_path / "out")
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*")), "a half-extracted tree was left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.tar"]


def test_not_an_archive_is_a_data_error(tmp_path):
    (tmp_path / "x.zip").write_text("not a zip")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        extract(tmp_path / "x.zip", tmp_path / "out")


# ----------------------------------------------------------------------------- releases


def _config(fmt: str, raw: Path, **kw) -> dict:
    return {"format": fmt, "raw_dir": str(raw), "patch_size": PATCH, "k": 4, **kw}


def test_paper_sources_list_every_official_file():
    dl = release("deeplesion")
    assert [f.name for f in dl.files][:2] == ["MD5_checksums.txt", "DL_info.csv"]
    assert [f.name for f in dl.files if f.is_archive] == [f"Images_png_{n:02d}.zip" for n in range(1, 57)]
    assert len({f.url for f in dl.files if f.is_archive}) == 56
    assert dl.prerequisites("Images_png_07.zip") == ["MD5_checksums.txt", "DL_info.csv"]
    assert release("lits").file("Task03_Liver.tar").md5 == "a90ec6c4aa7f6a3d087205e23d4e6397"
    assert release("lits", "codalab").gated
    assert release("ham").dataverse["doi"] == DOI


def test_gated_or_missing_sources_say_what_to_download_and_where(tmp_path):
    with pytest.raises(ValueError) as info:
        check_source("lits", _config("lits", tmp_path / "LiTS", source="download", release="codalab"))
    message = str(info.value)
    for needle in (
        "registration",
        "https://competitions.codalab.org/competitions/17094",
        "Training_Batch1.zip",
        "Training_Batch2.zip",
        f"{(tmp_path / 'LiTS').as_posix()}/",
        "set `source: raw_dir`",
        "release: msd",
    ):
        assert needle in message
    with pytest.raises(ValueError, match=r"raw_dir .*HAM is missing or empty.*doi.org/10.7910/DVN/DBW86T"):
        check_source("ham", _config("ham", tmp_path / "HAM"))
    with pytest.raises(ValueError, match="patch_size 120 needs keep_margin >= 60"):
        check_source("dl", {**_config("deeplesion", tmp_path, source="download", keep_margin=50), "patch_size": 120})
    check_source("dl", {**_config("deeplesion", tmp_path, source="download"), "patch_size": 120})
    (tmp_path / "DL_info.csv").write_text("")
    check_source("dl", {**_config("deeplesion", tmp_path, keep_margin=50), "patch_size": 120})  # own copy: whole slices
    with pytest.raises(ValueError, match=r"datasets\.dl: no release 'nope' for format 'deeplesion'"):
        check_source("dl", _config("deeplesion", tmp_path, source="download", release="nope"))


def test_files_without_a_link_are_named_before_the_run(tmp_path):
    ds = _config("deeplesion", tmp_path, source="download")
    assert files_to_put_by_hand(ds) == [tmp_path / "MD5_checksums.txt", tmp_path / "DL_info.csv"]
    (tmp_path / "DL_info.csv").write_text("x")
    assert files_to_put_by_hand(ds) == [tmp_path / "MD5_checksums.txt"]
    assert files_to_put_by_hand({**ds, "mirror": "http://127.0.0.1:9"}) == []
    assert files_to_put_by_hand(_config("ham", tmp_path, source="download")) == []


def test_config_schema_keeps_real_and_synthetic_keys_apart():
    import jsonschema
    import yaml

    from lesionmtl.config import SCHEMA_PATH

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    base = {
        "experiment": {"seeds": [0], "alpha_seg": 50, "alpha_cls": 1, "studies": {"main": {"models": ["a1"]}}},
        "training": {"encoder": "resnet18", "epochs": 1, "patience": 1, "batch_size": 2, "lr": 0.001},
        "pseudolabels": {},
    }
    synthetic = {"format": "ham", "synthetic": {"n_cases": 4, "image_size": 64, "seed": 0}, "patch_size": 32, "k": 2}
    real = {"format": "ham", "source": "download", "raw_dir": "data/HAM", "patch_size": 32, "k": 2}
    for ok in (synthetic, real, {**real, "source": "raw_dir", "release": "dataverse", "mirror": "http://m"}):
        jsonschema.validate({**base, "datasets": {"d": ok}}, schema)
    for bad, where in (
        ({**synthetic, "mirror": "http://m"}, "mirror"),
        ({**synthetic, "raw_dir": "x"}, "raw_dir"),
        ({k: v for k, v in real.items() if k != "raw_dir"}, "raw_dir"),
        ({**real, "source": "web"}, "source"),
    ):
        with pytest.raises(jsonschema.ValidationError) as info:
            jsonschema.validate({**base, "datasets": {"d": bad}}, schema)
        assert where in str(info.value)


def test_own_deeplesion_archives_unpack_whole_slices_and_leave_unpacked_files_alone(mirror, tmp_path):
    root, www, server, sources = mirror
    raw = tmp_path / "DeepLesion"
    reference = synthetic("deeplesion", root)
    shutil.copytree(reference / "Images_png", raw / "Images_png")
    mine = sorted((raw / "Images_png").rglob("*.png"))[0]
    mine.write_bytes(b"the user's own file")
    shutil.copy(www / "Images_png_01.zip", raw)
    ds = _config("deeplesion", raw, keep_margin=8)
    assert files_to_fetch(ds) == ["DL_info.csv", "Images_png_01.zip"]  # no checksum list here: not asked for
    with pytest.raises(DownloadError, match=r"DL_info\.csv: not found"):
        fetch(ds, "Images_png_01.zip")
    shutil.copy(www / "DL_info.csv", raw)
    receipt = fetch(ds, "Images_png_01.zip")
    assert receipt["files_unpacked"] > 0 and not receipt["verified"] and (raw / "Images_png_01.zip").exists()
    assert mine.read_bytes() == b"the user's own file"
    for png in (raw / "Images_png").rglob("*.png"):
        if png != mine:
            assert png.read_bytes() == (reference / png.relative_to(raw)).read_bytes(), "a slice was trimmed or changed"


def test_deeplesion_metadata_without_a_link_asks_for_it(tmp_path):
    with pytest.raises(DownloadError, match=r"MD5_checksums.txt: not found\. .*https://nihcc.app.box.com/v/DeepLesion"):
        fetch(_config("deeplesion", tmp_path, source="download"), "MD5_checksums.txt")


def test_a_failed_download_says_how_to_get_the_file_by_hand(blob, tmp_path):
    www, _ = blob  # a server without the release: every file is a 404
    with serving(www) as server, pytest.raises(DownloadError) as info:
        fetch(_config("lits", tmp_path / "LiTS", source="download", mirror=server.url), "Task03_Liver.tar")
    assert "Task03_Liver.tar: HTTP 404" in str(
        info.value
    ) and "put it, or its extracted Task03_Liver/ folder, in" in str(info.value)
    assert not list(tmp_path.rglob("Task03_Liver.tar*")), "a partial download was left behind"


def test_user_copies_in_raw_dir_are_unpacked_and_kept(tmp_path):
    raw = tmp_path / "LiTS"
    raw.mkdir()
    _zip(
        raw / "Training_Batch1.zip",
        {"Training Batch 1/volume-0.nii": b"v", "Training Batch 1/segmentation-0.nii": b"s"},
    )
    ds = _config("lits", raw, release="codalab")
    assert files_to_fetch(ds) == ["Training_Batch1.zip"]
    receipt = fetch(ds, "Training_Batch1.zip")
    assert receipt["files_unpacked"] == 2 and receipt["url"] is None and not receipt["archive_deleted"]
    assert (raw / "Training_Batch1.zip").exists() and (raw / "Training Batch 1" / "volume-0.nii").read_bytes() == b"v"


def test_deeplesion_archive_keeps_only_the_needed_slices_and_the_same_patches(mirror, tmp_path, monkeypatch):
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    raw = tmp_path / "DeepLesion"
    ds = _config("deeplesion", raw, source="download", mirror=server.url, keep_margin=PATCH // 2)
    for name in ("MD5_checksums.txt", "DL_info.csv"):
        fetch(ds, name)
    receipts = [fetch(ds, f"Images_png_{n:02d}.zip") for n in range(1, 57)]
    assert all(r["archive_deleted"] and r["checksum"]["algorithm"] == "md5" for r in receipts)
    assert not list(raw.glob("*.zip")) and not list(raw.glob("*.part")) and not list(raw.glob(".extracting-*"))

    reference = synthetic("deeplesion", root)
    kept = {(p.parent.name, int(p.stem)) for p in (raw / "Images_png").rglob("*.png")}
    assert kept == set(needed_slices(raw / "DL_info.csv"))
    assert len(kept) < len(list((reference / "Images_png").rglob("*.png")))
    assert not list(raw.rglob("._*")) and not (raw / "__MACOSX").exists()
    kept_bytes = sum(p.stat().st_size for p in (raw / "Images_png").rglob("*.png"))
    full_bytes = sum(
        (reference / "Images_png" / s / p.name).stat().st_size
        for s, p in ((p.parent.name, p) for p in (raw / "Images_png").rglob("*.png"))
    )
    assert kept_bytes < full_bytes

    ours = ingest("deeplesion", raw, tmp_path / "ours", patch_size=PATCH, seed=0)
    theirs = ingest("deeplesion", reference, tmp_path / "theirs", patch_size=PATCH, seed=0)
    assert ours.drop(columns="source").equals(theirs.drop(columns="source"))
    np.testing.assert_array_equal(
        np.load(tmp_path / "ours/patches/images.npy"), np.load(tmp_path / "theirs/patches/images.npy")
    )


def test_fetch_and_reader_parse_dl_info_rows_one_way(tmp_path):
    """The slices to unpack come from the reader's own row parser: a row the reader cannot read
    stops the fetch step before any archive is opened, with the reader's message."""
    raw = tmp_path / "raw"
    shutil.copytree(synthetic("deeplesion", tmp_path), raw)
    lines = (raw / "DL_info.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",4"  # Train_Val_Test of file line 4
    (raw / "DL_info.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"DL_info\.csv, row 4: Train_Val_Test must be 1, 2 or 3") as fetching:
        SliceKeeper(raw / "DL_info.csv", margin=None)
    with pytest.raises(DataError) as reading:
        list(read_deeplesion(raw, patch_size=PATCH))
    assert str(fetching.value) == str(reading.value)


def test_tampered_archive_fails_its_listed_checksum(mirror, tmp_path, monkeypatch):
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    raw = tmp_path / "DeepLesion"
    raw.mkdir()
    shutil.copy(www / "MD5_checksums.txt", raw)
    shutil.copy(www / "DL_info.csv", raw)
    (raw / "Images_png_02.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip, not the listed one
    ds = _config("deeplesion", raw, source="download", mirror=server.url)
    with pytest.raises(
        ChecksumMismatch, match=f"expected {md5(www / 'Images_png_02.zip')}.*replace it with a good copy"
    ):
        fetch(ds, "Images_png_02.zip")
    assert (raw / "Images_png_02.zip").exists(), "a copy the user put there was deleted"
    (raw / "Images_png_02.zip").unlink()
    receipt = fetch(ds, "Images_png_02.zip")  # now downloaded, verified, unpacked and deleted
    assert receipt["checksum"]["digest"] == md5(www / "Images_png_02.zip") and receipt["archive_deleted"]


@pytest.mark.parametrize(
    "line",
    [
        "{digest}  Images_png_05.zip",
        "{digest} *Images_png_05.zip",
        "MD5 (Images_png_05.zip) = {digest}",
        "Images_png_05.zip,{digest}",
        "Images_png_05.zip\t{digest}",
        "/data/DeepLesion/Images_png_05.zip {digest}",
    ],
)
def test_checksum_list_formats(tmp_path, line):
    digest = "0123456789abcdef0123456789abcdef"
    (tmp_path / "MD5_checksums.txt").write_text(
        f"{'f' * 32}  Images_png_05.zip.bak\n" + line.format(digest=digest) + "\n"
    )
    assert _static_checksum(release("deeplesion"), tmp_path, "Images_png_05.zip") == Checksum("md5", digest)
    assert _static_checksum(release("deeplesion"), tmp_path, "Images_png_50.zip") is None


def test_a_rerun_takes_what_is_in_place_and_refetches_what_is_not(mirror, tmp_path, monkeypatch):
    """Snakemake reruns a fetch when its script changes: nothing is downloaded again unless a file
    it had unpacked is gone."""
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    raw = tmp_path / "HAM"
    ds = _config("ham", raw, source="download", mirror=server.url)
    first = fetch(ds, "HAM10000_images_part_1.zip")
    before = len(server.requests)
    again = fetch(ds, "HAM10000_images_part_1.zip")
    assert again["reused"] and len(server.requests) == before
    assert {k: v for k, v in again.items() if k != "reused"} == first
    next(raw.glob("ISIC_*.jpg")).unlink()
    assert "reused" not in fetch(ds, "HAM10000_images_part_1.zip") and len(server.requests) > before


def test_msd_tar_unpacks_labelled_training_cases_and_reads_like_lits(mirror, tmp_path, monkeypatch):
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    raw = tmp_path / "LiTS"
    receipt = fetch(_config("lits", raw, source="download", mirror=server.url), "Task03_Liver.tar")
    assert receipt["archive_deleted"] and not (raw / "Task03_Liver.tar").exists()
    task = raw / "Task03_Liver"
    assert sorted(p.name for p in task.iterdir()) == ["dataset.json", "imagesTr", "labelsTr"]
    assert not list(task.rglob("._*"))
    ours = ingest("lits", raw, tmp_path / "ours", patch_size=PATCH, seed=0)
    theirs = ingest("lits", synthetic("lits", root), tmp_path / "theirs", patch_size=PATCH, seed=0)
    assert (
        len(ours) == len(theirs)
        and ours["group_id"].str.replace("liver_", "volume-").tolist() == theirs["group_id"].tolist()
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "ours/patches/gt_masks.npy"), np.load(tmp_path / "theirs/patches/gt_masks.npy")
    )


def test_msd_dataset_json_names_a_missing_volume(mirror, tmp_path, monkeypatch):
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    raw = tmp_path / "LiTS"
    fetch(_config("lits", raw, source="download", mirror=server.url), "Task03_Liver.tar")
    victim = sorted((raw / "Task03_Liver" / "labelsTr").iterdir())[0]
    victim.unlink()
    with pytest.raises(DataError, match=rf"dataset.json: training\[\d+\]: file labelsTr/{victim.name} not found"):
        ingest("lits", raw, tmp_path / "out", patch_size=PATCH, seed=0)


def test_dataverse_files_are_resolved_through_the_api_and_verified(mirror, tmp_path):
    root, www, server, sources = mirror
    raw = tmp_path / "HAM"
    ds = _config("ham", raw, source="download", mirror=server.url)
    receipts = {name: fetch(ds, name) for name in files_to_fetch(ds)}
    assert receipts["HAM10000_metadata"]["saved_as"] == "HAM10000_metadata.csv"
    assert receipts["HAM10000_metadata"]["url"].endswith("/api/access/datafile/104?format=original")
    assert (raw / "HAM10000_metadata.csv").read_bytes() == (www / "HAM10000_metadata.csv").read_bytes()
    assert not (raw / "__MACOSX").exists() and not list(raw.glob("*.zip"))
    ours = ingest("ham", raw, tmp_path / "ours", patch_size=PATCH, seed=0)
    theirs = ingest("ham", synthetic("ham", root), tmp_path / "theirs", patch_size=PATCH, seed=0)
    assert ours.drop(columns="source").equals(theirs.drop(columns="source"))
    by_lesion = ours.groupby("group_id")["split"].nunique()
    assert (by_lesion == 1).all()


def test_release_archive_with_a_malicious_entry_is_refused_whole(mirror, tmp_path, monkeypatch):
    """A verified archive (its checksum listed) that tries to write outside raw_dir: nothing of it
    is unpacked, and the job fails naming the entry."""
    root, www, server, sources = mirror
    monkeypatch.setenv("LESIONMTL_SOURCES", str(sources))
    evil_www = tmp_path / "www"
    evil_www.mkdir()
    shutil.copy(www / "DL_info.csv", evil_www)
    shutil.copy(www / "Images_png_01.zip", evil_www / "Images_png_01.zip")
    with zipfile.ZipFile(evil_www / "Images_png_01.zip", "a") as z:
        z.writestr("Images_png/../../../escaped.png", b"evil")
    (evil_www / "MD5_checksums.txt").write_text(f"{md5(evil_www / 'Images_png_01.zip')}  Images_png_01.zip\n")
    raw = tmp_path / "raw" / "DeepLesion"
    with serving(evil_www) as evil:
        ds = _config("deeplesion", raw, source="download", mirror=evil.url)
        fetch(ds, "MD5_checksums.txt")
        fetch(ds, "DL_info.csv")
        with pytest.raises(
            UnsafeArchive, match=r"Images_png_01\.zip: unsafe entry 'Images_png/\.\./\.\./\.\./escaped\.png'"
        ):
            fetch(ds, "Images_png_01.zip")
    assert not (raw / "Images_png").exists() and not list(raw.glob(".extracting-*"))
    assert not list(tmp_path.rglob("escaped.png"))
