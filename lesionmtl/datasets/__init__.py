"""Dataset readers (one per official on-disk format, ``readers/``), synthetic stand-ins
(``synthetic/``) and the ingest step (``ingest``).

Only the types every reader shares are imported here: importing a subpackage (e.g. the synthetic
writers) then runs no other stage's code, so the stage code hashes (lesionmtl.provenance) of
`synthesize` and `ingest` cover what each runs, no more.
"""

from .base import DataError, Rejection, Sample

__all__ = ["DataError", "Rejection", "Sample"]
