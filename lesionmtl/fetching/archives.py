"""Safe extraction of zip and tar archives.

Nothing is ever written outside the target folder: an entry with an absolute path, a ``..``
component or a drive letter, and any link or device entry, makes the whole extraction fail with
the archive and entry named.  macOS debris (``__MACOSX/`` trees, ``._*`` resource-fork stubs) is
skipped.  Files are extracted into a staging folder inside the target and moved into place only
when the whole archive has been read and checked, so a bad archive leaves nothing behind; a kill
during the final moves leaves some complete files in place, which extracting again overwrites.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from ..datasets.base import DataError, is_debris

Select = Callable[[PurePosixPath], bool]
Transform = Callable[[PurePosixPath, bytes], bytes]


class UnsafeArchive(DataError):
    """An archive entry that would write outside the target folder, or is a link or device."""


def entry_path(archive: Path, name: str) -> PurePosixPath:
    """The relative path an entry may be written to; raise :class:`UnsafeArchive` otherwise."""
    path = PurePosixPath(name)
    if path.is_absolute() or "\\" in name or ".." in path.parts or ":" in "".join(path.parts[:1]):
        raise UnsafeArchive(archive, f"unsafe entry {name!r}: absolute path, '..' or drive letter")
    return path


def extract(
    archive: Path,
    target: Path,
    *,
    select: Select | None = None,
    transform: Transform | None = None,
    overwrite: bool = True,
) -> list[PurePosixPath]:
    """Extract the regular files of a zip or tar ``archive`` under ``target``.

    ``select(path)`` picks the entries to extract (default: all but macOS debris, which is always
    skipped); ``transform(path, data)`` may rewrite an entry's bytes on the way; with
    ``overwrite=False`` files already in ``target`` are left as they are.  Returns the relative
    paths of the archive's selected files, in archive order (also those left as they were).
    """
    archive, target = Path(archive), Path(target)
    try:
        return _extract(archive, target, select, transform, overwrite)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(archive, f"corrupt or truncated archive ({exc}); download it again") from exc


def _extract(
    archive: Path, target: Path, select: Select | None, transform: Transform | None, overwrite: bool
) -> list[PurePosixPath]:
    with _staging(target, archive.name) as staging:
        selected, written = [], []
        for path, data in _entries(archive):
            if select is not None and not select(path):
                continue
            selected.append(path)
            if overwrite or not (target / path).is_file():
                try:
                    _write(staging / path, path, data, transform)
                except OSError as exc:  # e.g. a file and a folder of the same name
                    raise DataError(archive, f"cannot unpack entry {path.as_posix()!r}: {exc.strerror or exc}") from exc
                written.append(path)
        for path in written:
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, destination)
    return selected


def _write(file: Path, path: PurePosixPath, data: IO[bytes], transform: Transform | None) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    if transform is None:
        with open(file, "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
    else:
        file.write_bytes(transform(path, data.read()))


@contextmanager
def _staging(target: Path, name: str) -> Iterator[Path]:
    staging = target / f".extracting-{name}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed run
    staging.mkdir(parents=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _entries(archive: Path) -> Iterator[tuple[PurePosixPath, IO[bytes]]]:
    """(relative path, open stream) of every regular, non-debris file; unsafe entries raise."""
    if zipfile.is_zipfile(archive):
        yield from _zip_entries(archive)
    elif tarfile.is_tarfile(archive):
        yield from _tar_entries(archive)
    else:
        raise DataError(archive, "neither a zip nor a tar archive (truncated, or an error page?); download it again")


def _zip_entries(archive: Path) -> Iterator[tuple[PurePosixPath, IO[bytes]]]:
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for info in infos:  # check every name before writing anything
            path = entry_path(archive, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type, 0 when not recorded
            if not is_debris(path) and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(archive, f"entry {info.filename!r} is a link or special file")
        for info in infos:
            path = PurePosixPath(info.filename)
            if not info.is_dir() and path.parts and not is_debris(path):
                with z.open(info) as data:
                    yield path, data


def _tar_entries(archive: Path) -> Iterator[tuple[PurePosixPath, IO[bytes]]]:
    # Streamed (r|*): a 29 GB tar is read once, front to back; a bad entry aborts the extraction.
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            path = entry_path(archive, member.name)
            if member.isdir() or not path.parts or is_debris(path):  # "." / "./": the archive's root
                continue
            if not member.isfile():
                raise UnsafeArchive(archive, f"entry {member.name!r} is a link or special file")
            yield path, tar.extractfile(member)
