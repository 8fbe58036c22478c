"""Fetch one file of a dataset's official release into its raw folder (the workflow's fetch step).

Download (resumable) or take the copy the user put there, verify it against the published
checksum, and for an archive unpack what the readers need, safely; an archive this step
downloaded is deleted once unpacked.  Returns a receipt (what came from where, digests, sizes)
that the workflow keeps as the step's output.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from urllib.parse import quote

import requests

from .archives import extract
from .download import Checksum, DownloadError, download, verify
from ..datasets.deeplesion import DEFAULT_KEEP_MARGIN, SliceKeeper
from .releases import Release, dataset_release

log = logging.getLogger(__name__)

MD5 = re.compile(r"\b[0-9a-fA-F]{32}\b")
DATAVERSE_EXTENSIONS = {"text/csv": ".csv", "text/tab-separated-values": ".tsv"}


def fetch(ds: dict, name: str, *, session: requests.Session | None = None) -> dict:
    """Bring release file ``name`` of dataset config ``ds`` into ``ds["raw_dir"]``; return its receipt."""
    started = time.perf_counter()
    rel, raw = dataset_release(ds), Path(ds["raw_dir"])
    downloading = ds.get("source") == "download"
    url = None
    if downloading:
        url, checksum, local = _locate(rel, ds, name, raw, session or requests.Session())
    else:  # the user's own copy: no network at all
        checksum, local = _static_checksum(rel, raw, name), raw / name
    if local.is_file():
        log.info("%s: using the copy in %s", name, raw)
        verify(local, checksum)
        url = None
    elif url is None:
        raise DownloadError(f"{local}: not found. {rel.help(raw)}")
    else:
        log.info("%s: downloading %s", name, url)
        download(url, local, checksum=checksum, session=session)
    receipt = {
        "file": name, "saved_as": local.name, "url": url, "bytes": local.stat().st_size,
        "checksum": None if checksum is None else {"algorithm": checksum.algorithm, "digest": checksum.digest},
    }
    if rel.file(name).is_archive:
        receipt.update(_unpack(rel, ds, local, raw))
        if downloading:
            local.unlink()
            receipt["archive_deleted"] = True
    receipt["seconds"] = round(time.perf_counter() - started, 2)
    return receipt


def _unpack(rel: Release, ds: dict, archive: Path, raw: Path) -> dict:
    select = transform = None
    if rel.fmt == "deeplesion":
        keeper = SliceKeeper(raw / "DL_info.csv", ds.get("keep_margin", DEFAULT_KEEP_MARGIN))
        select, transform = keeper.select, keeper.transform
    elif rel.fmt == "lits" and rel.name == "msd":
        select = _msd_training_files
    written = extract(archive, raw, select=select, transform=transform)
    log.info("%s: %d files unpacked into %s", archive.name, len(written), raw)
    return {"files_unpacked": len(written), "bytes_unpacked": sum((raw / p).stat().st_size for p in written)}


def _msd_training_files(path) -> bool:
    """MSD Task03: the labelled training volumes and dataset.json (the test volumes have no labels)."""
    return path.name == "dataset.json" or (len(path.parts) >= 2 and path.parts[-2] in ("imagesTr", "labelsTr"))


def _locate(rel: Release, ds: dict, name: str, raw: Path, session: requests.Session) -> tuple[str | None, Checksum | None, Path]:
    """(download URL or None, published checksum or None, local path) of a release file."""
    entry, mirror = rel.file(name), ds.get("mirror")
    if entry.url == "dataverse":
        return _dataverse_file(rel, name, raw, session, server=mirror)
    url = f"{mirror.rstrip('/')}/{quote(name)}" if mirror else entry.url
    return url, _static_checksum(rel, raw, name), raw / name


def _static_checksum(rel: Release, raw: Path, name: str) -> Checksum | None:
    """The published MD5 of ``name``: from sources.yaml, or from the release's checksum list
    (DeepLesion's MD5_checksums.txt, fetched before the files it covers)."""
    if rel.file(name).md5:
        return Checksum("md5", rel.file(name).md5)
    if not rel.checksum_list or name == rel.checksum_list or not (raw / rel.checksum_list).is_file():
        return None
    listing = raw / rel.checksum_list
    for line in listing.read_text(errors="replace").splitlines():
        digest = MD5.search(line)
        if digest and re.search(rf"(^|[\s*/(]){re.escape(name)}($|[\s)])", line):
            return Checksum("md5", digest.group())
    log.warning("%s is not listed in %s: it cannot be verified", name, listing)
    return None


def _dataverse_file(rel: Release, name: str, raw: Path, session: requests.Session, server: str | None):
    """Resolve a file of a Dataverse dataset through its API: download URL, checksum, local name.

    Tabular files (Dataverse converts CSV uploads to .tab) are downloaded in their original
    format, which is what the published checksum is of.
    """
    server = (server or rel.dataverse["server"]).rstrip("/")
    doi = rel.dataverse["doi"]
    listing_url = f"{server}/api/datasets/:persistentId/versions/:latest-published/files?persistentId={doi}"
    response = session.get(listing_url, timeout=60)
    if response.status_code != 200:
        raise DownloadError(f"{listing_url}: HTTP {response.status_code} {response.reason}")
    for item in response.json()["data"]:
        label, df = item["label"], item["dataFile"]
        if name not in (label, Path(label).stem):
            continue
        check = df.get("checksum") or {"type": "MD5", "value": df["md5"]}
        url = f"{server}/api/access/datafile/{df['id']}"
        saved = label
        if df.get("originalFileFormat"):
            url += "?format=original"
            saved = df.get("originalFileName") or Path(label).stem + DATAVERSE_EXTENSIONS.get(df["originalFileFormat"], "")
        return url, Checksum(check["type"], check["value"]), raw / saved
    raise DownloadError(f"{listing_url}: no file {name!r} in {doi}")
