"""The package's known errors: problems a person can fix from the message alone.

Every error a user may cause (bad input data, an unsafe archive, a failed or corrupt download, a
wrong setting) derives from :class:`LesionmtlError`.  Workflow scripts (:func:`lesionmtl.logs.log_to`)
and the command line end such an error with :func:`one_line` on stderr and a non-zero exit status,
instead of a traceback whose last line is the message; any other exception is a bug and keeps its
traceback.  The subclasses:

- :class:`DataError` (and :class:`lesionmtl.fetching.archives.UnsafeArchive`): input data that
  cannot be used; the message names the file, the row (if any) and the problem.
- :class:`lesionmtl.fetching.download.DownloadError` (and its ``ChecksumMismatch``): a download
  that failed or does not match its published checksum.
- :class:`ConfigError`: a configuration value that cannot work.
"""

from __future__ import annotations

from pathlib import Path

PROGRAM = "lesionmtl"


class LesionmtlError(Exception):
    """An error whose message tells the user what is wrong, where, and what to do."""


class DataError(LesionmtlError, ValueError):
    """Malformed input data; the message names the file, the row (if any) and the problem."""

    def __init__(self, file: str | Path, problem: str, row: int | None = None):
        where = f"{file}" if row is None else f"{file}, row {row}"
        super().__init__(f"{where}: {problem}")
        self.file, self.row, self.problem = str(file), row, problem


class ConfigError(LesionmtlError, ValueError):
    """A configuration value that cannot work; the message names the key."""


def one_line(error: BaseException) -> str:
    """``lesionmtl: <message>`` on one line (line breaks in the message become spaces)."""
    return f"{PROGRAM}: {' '.join(str(error).split())}"
