"""Fetch one file of a dataset's official release into its raw folder (the workflow's fetch step).

Download (resumable) or take the copy the user put there, verify it against the published
checksum, and for an archive unpack what the readers need, safely; an archive this step
downloaded is deleted once unpacked.  Returns a receipt (what came from where, digests, sizes)
that the workflow keeps as the step's output.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from urllib.parse import quote

import requests

from ..io import save_json
from .archives import extract
from .deeplesion import SliceKeeper
from .download import Checksum, ChecksumMismatch, DownloadError, download, file_digest, verify
from .releases import RECEIPTS, Release, dataset_release, keep_margin

log = logging.getLogger(__name__)

MD5 = re.compile(r"\b[0-9a-fA-F]{32}\b")
DATAVERSE_EXTENSIONS = {"text/csv": ".csv", "text/tab-separated-values": ".tsv"}


def fetch(ds: dict, name: str, *, session: requests.Session | None = None) -> dict:
    """Bring release file ``name`` of dataset config ``ds`` into ``ds["raw_dir"]``; return its receipt.

    A record of every completed fetch is kept in ``<raw_dir>/.fetched/done/`` (not a workflow
    output): when Snakemake reruns the step (a script edited, a prerequisite rewritten), the files
    already in place are taken as they are instead of downloading hundreds of gigabytes again.
    """
    started = time.perf_counter()
    rel, raw = dataset_release(ds), Path(ds["raw_dir"])
    downloading = ds.get("source") == "download"
    done = raw / RECEIPTS / "done" / f"{name}.json"
    inputs = _unpack_inputs(rel, ds, raw, name)
    previous = _reusable(done, raw, inputs)
    if previous is not None:
        log.info("%s: already fetched and in place (%s); nothing to do", name, done)
        return {**previous, "reused": True}

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
        try:
            download(url, local, checksum=checksum, session=session)
        except ChecksumMismatch:
            raise
        except DownloadError as exc:  # moved link, refused access, network down: say what else works
            raise DownloadError(f"{exc}. To get it by hand instead: {rel.help(raw)}") from exc
    receipt = {
        "file": name,
        "saved_as": local.name,
        "url": url,
        "bytes": local.stat().st_size,
        "verified": checksum is not None,
        "checksum": None if checksum is None else {"algorithm": checksum.algorithm, "digest": checksum.digest},
        "unpack_inputs": inputs,
    }
    unpacked = []
    if rel.file(name).is_archive:
        unpacked = _unpack(rel, ds, local, raw, own_copy=not downloading)
        receipt.update(
            files_unpacked=len(unpacked),
            bytes_unpacked=sum((raw / p).stat().st_size for p in unpacked),
            archive_deleted=url is not None,
        )  # only what this call downloaded, never the user's copy
    receipt["seconds"] = round(time.perf_counter() - started, 2)
    save_json(done, {**receipt, "unpacked": [p.as_posix() for p in unpacked]})
    if receipt.get("archive_deleted"):
        local.unlink()
    return receipt


def _unpack_inputs(rel: Release, ds: dict, raw: Path, name: str) -> dict:
    """What an archive's unpacked files depend on besides the archive (DeepLesion: the margin and
    the lesion table that select and trim the slices)."""
    if not rel.selects_slices(name):
        return {}
    table = raw / "DL_info.csv"
    if not table.is_file():
        raise DownloadError(f"{table}: not found, and it says which slices to unpack. {rel.help(raw)}")
    return {"keep_margin": keep_margin(ds), "DL_info.csv": file_digest(table, "md5")}


def _reusable(done: Path, raw: Path, inputs: dict) -> dict | None:
    """The receipt of an earlier complete fetch whose files are all still in place, else None."""
    if not done.is_file():
        return None
    record = json.loads(done.read_text())
    kept = [] if record.get("archive_deleted") else [record["saved_as"]]
    if record.get("unpack_inputs") != inputs or not all((raw / p).is_file() for p in kept + record["unpacked"]):
        return None
    if record.get("archive_deleted"):
        (raw / record["saved_as"]).unlink(missing_ok=True)  # a kill came between recording and deleting
    return {k: v for k, v in record.items() if k != "unpacked"}


def _unpack(rel: Release, ds: dict, archive: Path, raw: Path, own_copy: bool) -> list:
    """Unpack what the readers need; next to the user's own copy, files already there are kept."""
    select = transform = None
    if rel.fmt == "deeplesion":
        keeper = SliceKeeper(raw / "DL_info.csv", keep_margin(ds))
        select, transform = keeper.select, keeper.transform
    elif rel.fmt == "lits" and rel.name == "msd":
        select = _msd_training_files
    written = extract(archive, raw, select=select, transform=transform, overwrite=not own_copy)
    log.info("%s: %d files unpacked into %s", archive.name, len(written), raw)
    return written


def _msd_training_files(path) -> bool:
    """MSD Task03: the labelled training volumes and dataset.json (the test volumes have no labels)."""
    return path.name == "dataset.json" or (len(path.parts) >= 2 and path.parts[-2] in ("imagesTr", "labelsTr"))


def _locate(
    rel: Release, ds: dict, name: str, raw: Path, session: requests.Session
) -> tuple[str | None, Checksum | None, Path]:
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
        if digest and re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", line):
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
        check = df.get("checksum") or ({"type": "MD5", "value": df["md5"]} if df.get("md5") else None)
        if check is None:
            log.warning("%s: Dataverse lists no checksum for %s: it cannot be verified", listing_url, label)
        url = f"{server}/api/access/datafile/{df['id']}"
        saved = label
        if df.get("originalFileFormat"):
            url += "?format=original"
            saved = df.get("originalFileName") or Path(label).stem + DATAVERSE_EXTENSIONS.get(
                df["originalFileFormat"], ""
            )
        return url, Checksum(check["type"], check["value"]) if check else None, raw / saved
    raise DownloadError(f"{listing_url}: no file {name!r} in {doi}")
