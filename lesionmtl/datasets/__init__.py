"""Dataset readers (one per official on-disk format), synthetic stand-ins and the ingest step."""

from .base import DataError, Rejection, Sample
from .ingest import ingest
from .synthetic import write_synthetic

__all__ = ["DataError", "Rejection", "Sample", "ingest", "write_synthetic"]
