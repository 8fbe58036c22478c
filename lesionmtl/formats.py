"""The registry of dataset formats: every fact about an on-disk format, in one place.

The config schema's ``format`` enum, ingest's readers, the synthetic writers, the default
release a real dataset is fetched from and the paper's counts in the data table all derive from
:data:`FORMATS`. Adding a format is one entry here plus its reader (and, for the embedded default,
a synthetic writer). Readers and writers are named ``module:function`` and imported only when
used: the Snakefile reads this module at parse time, and a job imports one reader, not all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from lesionmtl.errors import ConfigError


@dataclass(frozen=True)
class DatasetFormat:
    name: str  # the config's `format`
    description: str  # what lies on disk, in words
    reader: str  # "module:function" yielding Samples and Rejections (lesionmtl.datasets.base.Reader)
    writer: str  # module of the synthetic writer: `write(out, rng, n_cases, hw, params)` and `DEFAULTS`
    release: str  # default release in lesionmtl/fetching/sources.yaml ("own": no public release)
    partial_ground_truth: bool = False  # lesions may come with or without a reference mask, each on its own
    paper_counts: str = "-"  # what the paper used (section 4), beside our counts in the data table
    # What the model sees of its images ("" where the reader says it per lesion, as recist_table
    # does): checkpoints keep the counts, so that `lesionmtl segment` can flag images unlike them.
    image_layout: str = ""

    def load_reader(self) -> Callable:
        module, function = self.reader.split(":")
        return getattr(importlib.import_module(module), function)

    def load_writer(self) -> ModuleType:
        return importlib.import_module(self.writer)


FORMATS: dict[str, DatasetFormat] = {
    f.name: f
    for f in (
        DatasetFormat(
            "deeplesion",
            "DL_info.csv + Images_png/<series>/<slice>.png (16-bit)",
            "lesionmtl.datasets.readers.deeplesion:read_deeplesion",
            "lesionmtl.datasets.synthetic.deeplesion",
            release="nih",
            paper_counts="32,735 lesions (4,400 patients), official split",
            image_layout="CT 2.5-D",
        ),
        DatasetFormat(
            "lits",
            "volume-N.nii / segmentation-N.nii, or the Decathlon's imagesTr/labelsTr",
            "lesionmtl.datasets.readers.lits:read_lits",
            "lesionmtl.datasets.synthetic.lits",
            release="msd",
            paper_counts="11,522 / 3,310 / 1,630 images (48 / 44 / 20 volumes)",
            image_layout="CT slice",
        ),
        DatasetFormat(
            "ham",
            "ISIC_*.jpg + ISIC_*_segmentation.png + HAM10000_metadata",
            "lesionmtl.datasets.readers.ham:read_ham",
            "lesionmtl.datasets.synthetic.ham",
            release="dataverse",
            paper_counts="10,015 images, 70 / 20 / 10 % (the released code drops 3 broken masks)",
            image_layout="colour",
        ),
        DatasetFormat(
            "recist_table",
            "your own table (CSV, TSV, Parquet) of images (PNG, JPEG, NIfTI, DICOM) and RECIST marks, masks optional",
            "lesionmtl.datasets.readers.recist_table:read_recist_table",
            "lesionmtl.datasets.synthetic.recist_table",
            release="own",
            partial_ground_truth=True,
        ),
    )
}


def dataset_format(name: str) -> DatasetFormat:
    """The registry entry of ``name``; the error (one line, a ConfigError) lists the valid names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset format {name!r}; choose one of {', '.join(FORMATS)}") from None
