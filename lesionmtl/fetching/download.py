"""Streamed, resumable, verified HTTP downloads.

A file is fetched into ``<name>.part`` next to its destination; an interrupted transfer leaves
that part behind and the next call asks the server for the rest (HTTP Range).  The whole file's
digest is checked against the published one, and only a verified file is renamed to its final
name; a file that fails its checksum is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from ..errors import LesionmtlError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
STREAM_CHUNK = 1 << 16  # a dropped connection loses at most this much of what it delivered
TIMEOUT_S = (30, 300)  # connect, read


class DownloadError(LesionmtlError, RuntimeError):
    """A download failed; the message names the URL or file and what went wrong."""


class ChecksumMismatch(DownloadError):
    def __init__(self, path: Path, checksum: Checksum, actual: str, deleted: bool):
        then = (
            "the download was deleted, run again to fetch it afresh"
            if deleted
            else "replace it with a good copy (or delete it to have it downloaded)"
        )
        super().__init__(
            f"{path}: {checksum.algorithm} checksum mismatch: expected {checksum.digest}, got {actual}; {then}"
        )


@dataclass(frozen=True)
class Checksum:
    """A published digest: ``algorithm`` is a hashlib name (md5, sha1, sha256)."""

    algorithm: str
    digest: str

    def __post_init__(self):
        object.__setattr__(self, "algorithm", self.algorithm.lower().replace("-", ""))
        object.__setattr__(self, "digest", self.digest.lower())
        hashlib.new(self.algorithm)  # unknown algorithm -> ValueError here, not after a long download


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, checksum: Checksum | None, *, delete: bool = False) -> None:
    """Check ``path`` against ``checksum`` (if one is known); raise on a mismatch, deleting the
    file if ``delete`` (what this module downloaded; never a copy the user supplied)."""
    if checksum is None:
        return
    actual = file_digest(path, checksum.algorithm)
    if actual != checksum.digest:
        if delete:
            path.unlink(missing_ok=True)
        raise ChecksumMismatch(path, checksum, actual, deleted=delete)


class _Retryable(DownloadError):
    """A transient server answer (429, 5xx): worth another try."""


RETRYABLE = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout, _Retryable)


def download(
    url: str,
    dest: Path,
    *,
    checksum: Checksum | None = None,
    retries: int = 3,
    session: requests.Session | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` (resuming a ``.part`` file), verify it and rename it into place.

    A dropped connection or a transient server error (429, 5xx) is retried ``retries`` times,
    each time from where the part file ends; after that the part file stays for the next call.
    A download that fails its checksum is deleted.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    session = session or requests.Session()
    for attempt in range(retries + 1):
        try:
            _transfer(session, url, part)
            break
        except RETRYABLE as exc:
            if attempt == retries:
                raise DownloadError(
                    f"{url}: transfer interrupted after {_size(part)} bytes ({exc}); run again to resume"
                ) from exc
            log.warning("%s: interrupted at %d bytes (%s); resuming", url, _size(part), exc)
            time.sleep(min(2**attempt, 30))
    verify(part, checksum, delete=True)
    os.replace(part, dest)
    return dest


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _transfer(session: requests.Session, url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part``; raise DownloadError on an HTTP error status.

    Resuming is trusted only when the server confirms the offset (206 with a matching
    Content-Range, or 416 saying the file has exactly the part's size); otherwise the part is
    dropped and the file fetched whole.  ``identity`` encoding keeps byte offsets meaningful.
    """
    offset = _size(part)
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
        status, content_range = response.status_code, response.headers.get("Content-Range", "")
        if offset and status == 416 and content_range == f"bytes */{offset}":
            return  # the part is already whole (the checksum, where known, still decides)
        if offset and (status == 416 or (status == 206 and not content_range.startswith(f"bytes {offset}-"))):
            log.warning(
                "%s: server did not confirm resuming at byte %d (%s %s); fetching it whole",
                url,
                offset,
                status,
                content_range,
            )
            part.unlink()
            return _transfer(session, url, part)
        if status in (429, 500, 502, 503, 504):
            raise _Retryable(f"{url}: HTTP {status} {response.reason}")
        if status not in (200, 206):
            raise DownloadError(f"{url}: HTTP {status} {response.reason}")
        if status == 200:
            offset = 0  # the server sent the whole file
        remaining = int(response.headers.get("Content-Length", 0)) or None
        total = offset + remaining if remaining else None
        with (
            open(part, "ab" if offset else "wb") as out,
            _progress(part.name.removesuffix(".part"), total, offset) as bar,
        ):
            for chunk in response.iter_content(STREAM_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _progress(name: str, total: int | None, initial: int) -> tqdm:
    """A byte progress bar on stderr; in a log file (not a terminal) one line every 30 s."""
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        mininterval=0.5 if tty else 30,
        ascii=not tty,
        dynamic_ncols=tty,
    )
