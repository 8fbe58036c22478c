"""4. Ingest throughput: official DeepLesion layout -> lesion table + 120x120 patches.

The synthetic DeepLesion folder (16-bit PNG slices + DL_info.csv) is written first, untimed; the
timed call is ``lesionmtl.datasets.ingest.ingest`` as the workflow's ``ingest`` rule runs it,
writing its outputs.  Before it, the same slices packed as a release archive
(``Images_png_01.zip``) are unpacked as the ``fetch`` rule does: only the needed slices, trimmed
to the lesions' surroundings.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from benchmarks.data import PATCH_SIZE, deeplesion_raw, synthetic_sizes
from benchmarks.timing import Timer, median, time_calls


def unpack(raw: Path, workdir: Path) -> dict:
    """Time unpacking the release-style zip of ``raw``'s slices with the fetch step's slice keeper."""
    from lesionmtl.fetching.archives import extract
    from lesionmtl.fetching.deeplesion import DEFAULT_KEEP_MARGIN, SliceKeeper

    archive = workdir / "Images_png_01.zip"
    slices = sorted((raw / "Images_png").rglob("*.png"))
    if not archive.exists():
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:  # PNGs do not deflate further
            for png in slices:
                z.write(png, png.relative_to(raw).as_posix())
    dest = workdir / "unpacked"
    shutil.rmtree(dest, ignore_errors=True)
    keeper = SliceKeeper(raw / "DL_info.csv", DEFAULT_KEEP_MARGIN)
    with Timer() as t:
        kept = extract(archive, dest, select=keeper.select, transform=keeper.transform)
    kept_bytes = sum((dest / p).stat().st_size for p in kept)
    original_bytes = sum((raw / p).stat().st_size for p in kept)
    return {
        "unpack_slices_per_s": len(kept) / t.seconds,
        "unpack_kept_slices": len(kept),
        "unpack_archive_slices": len(slices),
        "unpack_kept_bytes_fraction": kept_bytes / original_bytes,
    }


def run(quick: bool, workdir) -> dict:
    from lesionmtl.datasets.ingest import ingest

    raw = deeplesion_raw(workdir, quick)
    unpacked = unpack(raw, Path(workdir))
    out = workdir / "ingest_out"
    tables = []
    times = time_calls(
        lambda: tables.append(ingest("deeplesion", raw, out, patch_size=PATCH_SIZE, seed=0)), repeat=1 if quick else 3
    )
    n = len(tables[-1])
    seconds = median(times)
    sizes = synthetic_sizes(quick)
    return {
        "figures": {"lesions_per_s": n / seconds, "ingest_s": seconds, "lesions": n, **unpacked},
        "settings": {**sizes, "patch_size": PATCH_SIZE, "repeats": len(times)},
        "notes": [
            f"synthetic DeepLesion, {sizes['n_cases']} key slices of {sizes['image_size']}px -> {n} lesions, "
            f"{PATCH_SIZE}x{PATCH_SIZE} patches; median of {len(times)} run(s), outputs written",
            "unpack: one zip of all slices; kept bytes fraction = trimmed PNGs / the same slices untrimmed "
            "(synthetic slices compress differently from real CT: indicative only)",
        ],
    }
