"""What to keep of DeepLesion's image archives: the slices the reader opens, trimmed to the lesions.

The 56 ``Images_png_NN.zip`` hold ~238 GB of whole CT series; the reader opens only each lesion's
key slice and its neighbours for the -2 / 0 / +2 mm channels. Which ones follows from the rows of
``DL_info.csv``, parsed by the reader's own :func:`~lesionmtl.datasets.readers.deeplesion.read_dl_info`,
so that unpacking and reading agree by construction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from ..datasets.base import DataError
from ..datasets.readers.deeplesion import read_dl_info

DEFAULT_KEEP_MARGIN = 64  # px kept around each lesion box when unpacking: patches up to 128 px

Box = tuple[float, float, float, float]


def needed_slices(csv_path: Path) -> dict[tuple[str, int], list[Box]]:
    """Every stored slice the reader opens, ``(series, index)``, with the 0-based boxes of the
    lesions that need it: the key slices and their neighbours for the -2 / 0 / +2 mm channels."""
    needed: dict[tuple[str, int], list[Box]] = defaultdict(list)
    for row in read_dl_info(csv_path):
        box = tuple(float(v) for v in row.box)
        for index in row.slices_read():
            needed[(row.series, index)].append(box)
    return dict(needed)


class SliceKeeper:
    """What to keep of a DeepLesion ``Images_png_NN.zip``: the slices the patches need and, of
    each, only the pixels within ``margin`` of a lesion box that uses it (the rest is set to the
    slice's minimum, so the kept PNGs compress to a fraction of their size; geometry, file names
    and bit depth stay as published).  ``margin=None`` keeps whole slices.

    A patch of side ``p`` centred on a lesion box lies inside the kept region when ``p <= 2 * margin``.
    """

    def __init__(self, csv_path: Path, margin: int | None):
        self.needed = needed_slices(csv_path)
        self.margin = margin

    def _key(self, path: PurePosixPath) -> tuple[str, int] | None:
        parts = path.parts
        if len(parts) < 3 or parts[-3] != "Images_png" or path.suffix != ".png" or not path.stem.isdigit():
            return None
        return parts[-2], int(path.stem)

    def select(self, path: PurePosixPath) -> bool:
        return self._key(path) in self.needed

    def transform(self, path: PurePosixPath, data: bytes) -> bytes:
        if self.margin is None:
            return data
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint16 or image.ndim != 2:
            raise DataError(path, "unreadable or not a 16-bit grey PNG")
        keep = np.zeros(image.shape, dtype=bool)
        for x0, y0, x1, y1 in self.needed[self._key(path)]:
            r0, c0 = (max(int(math.floor(v - self.margin)), 0) for v in (y0, x0))
            keep[r0 : int(math.ceil(y1 + self.margin)) + 1, c0 : int(math.ceil(x1 + self.margin)) + 1] = True
        image[~keep] = image.min()
        _, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
        return encoded.tobytes()
