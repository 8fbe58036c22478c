"""The official releases of the real datasets: which files, where from, how to check them.

Reads ``sources.yaml`` (the package's one list of URLs and checksums) and answers the workflow's
planning questions without touching the network: which files a dataset fetches, in what order,
and what to tell a user whose data cannot be downloaded automatically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from ..datasets.base import patch_hw
from ..errors import ConfigError
from ..formats import dataset_format
from .deeplesion import DEFAULT_KEEP_MARGIN

SOURCES = Path(__file__).with_name("sources.yaml")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
RECEIPTS = ".fetched"  # per-file receipts inside the raw folder (the workflow's outputs)


@dataclass(frozen=True)
class ReleaseFile:
    name: str
    url: str | None  # None: no direct link; "dataverse": resolved through the Dataverse API
    md5: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.name.endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class Release:
    fmt: str
    name: str
    files: tuple[ReleaseFile, ...]
    instructions: str
    gated: bool = False
    checksum_list: str | None = None
    dataverse: dict | None = None

    def file(self, name: str) -> ReleaseFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"{name!r} is not a file of the {self.fmt} {self.name} release")

    def selects_slices(self, name: str) -> bool:
        """Whether unpacking ``name`` keeps only the slices DL_info.csv's lesions need (DeepLesion's
        image archives): the lesion table and the keep margin then shape what is unpacked."""
        return self.fmt == "deeplesion" and self.file(name).is_archive

    def prerequisites(self, name: str) -> list[str]:
        """Files that must be fetched before ``name``: the checksum list before everything it
        covers, and (DeepLesion) the lesion table before the image archives it selects from."""
        before = []
        if self.checksum_list and name != self.checksum_list:
            before.append(self.checksum_list)
        if self.selects_slices(name):
            before.append("DL_info.csv")
        return before

    def help(self, raw_dir: str | Path) -> str:
        return " ".join(self.instructions.split()).format(raw_dir=Path(raw_dir).as_posix())


def _sources() -> dict:
    """The release definitions; ``LESIONMTL_SOURCES`` may name another file of the same shape
    (a site's own mirror with its own archives and checksums, or the tests' local fixtures)."""
    return _load(os.environ.get("LESIONMTL_SOURCES", SOURCES))


@cache
def _load(path: str | Path) -> dict:
    """A sources file, read with the safe loader: plain values only, never Python objects."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable release definitions ({' '.join(str(exc).split())})") from exc


def release(fmt: str, name: str | None = None) -> Release:
    """The release ``name`` of dataset format ``fmt`` (default: the one downloadable without sign-in)."""
    name = name or dataset_format(fmt).release
    try:
        spec = _sources()[fmt][name]
    except KeyError:
        known = ", ".join(f"{f}: {', '.join(r)}" for f, r in _sources().items())
        raise ConfigError(f"no release {name!r} for format {fmt!r} (known: {known})") from None
    md5 = spec.get("md5", {})
    files = tuple(ReleaseFile(n, url, md5.get(n)) for n, url in spec["files"].items())
    return Release(
        fmt=fmt,
        name=name,
        files=files,
        instructions=spec["instructions"],
        gated=spec.get("gated", False),
        checksum_list=spec.get("checksum_list"),
        dataverse=spec.get("dataverse"),
    )


def dataset_release(ds: dict) -> Release:
    """The release a dataset's configuration (``format``, optional ``release``) refers to."""
    return release(ds["format"], ds.get("release"))


def files_to_fetch(ds: dict) -> list[str]:
    """The release files the workflow fetches for a real dataset (empty: read ``raw_dir`` as is).

    ``source: download``: every file of the release.  ``source: raw_dir``: the release's archives
    the user put in ``raw_dir`` (they are unpacked there and kept), with the files they need first
    (a checksum list only where there is one: the user's copy may come without).
    """
    rel = dataset_release(ds)
    if ds.get("source") == "download":
        return [f.name for f in rel.files]
    raw = Path(ds["raw_dir"])
    present = [f.name for f in rel.files if f.is_archive and (raw / f.name).is_file()]
    needed = {p for name in present for p in rel.prerequisites(name) if p != rel.checksum_list or (raw / p).is_file()}
    return [f.name for f in rel.files if f.name in needed or f.name in present]


def files_to_put_by_hand(ds: dict) -> list[Path]:
    """Release files with no direct link that a download needs and ``raw_dir`` does not hold yet
    (DeepLesion's DL_info.csv and MD5_checksums.txt, unless a ``mirror`` serves them)."""
    if ds.get("source") != "download" or ds.get("mirror"):
        return []
    raw = Path(ds["raw_dir"])
    return [raw / f.name for f in dataset_release(ds).files if f.url is None and not (raw / f.name).is_file()]


def keep_margin(ds: dict) -> int | None:
    """Pixels kept around each lesion when unpacking DeepLesion slices: trimmed only in a download
    (to bound the disk); the user's own archives give whole slices (None)."""
    return ds.get("keep_margin", DEFAULT_KEEP_MARGIN) if ds.get("source") == "download" else None


def receipt_path(raw_dir: str | Path, name: str) -> str:
    return f"{Path(raw_dir).as_posix()}/{RECEIPTS}/{name}.json"


def check_source(ds_name: str, ds: dict) -> None:
    """Refuse, before anything runs, a configuration that cannot get its data; the message says
    exactly what to download from where and where to put it."""
    if "synthetic" in ds:
        return
    try:
        rel = dataset_release(ds)
    except ValueError as exc:
        raise ValueError(f"datasets.{ds_name}: {exc}") from None
    raw = Path(ds["raw_dir"])
    if ds.get("source") != "download":
        if not raw.is_dir() or not any(raw.iterdir()):
            raise ValueError(f"datasets.{ds_name}: raw_dir {raw.as_posix()} is missing or empty. {rel.help(raw)}")
        return
    if rel.gated:
        raise ValueError(
            f"datasets.{ds_name}: the {rel.fmt} {rel.name} release cannot be downloaded automatically; "
            f"set `source: raw_dir` and provide it yourself. {rel.help(raw)}"
        )
    margin, side = keep_margin(ds), max(patch_hw(ds["patch_size"]))
    if rel.fmt == "deeplesion" and margin is not None and side > 2 * margin:
        raise ValueError(
            f"datasets.{ds_name}: patch_size {ds['patch_size']} needs keep_margin >= {(side + 1) // 2} "
            f"(pixels kept around each lesion when unpacking DeepLesion archives), got {margin}"
        )
