"""4. Ingest throughput: official DeepLesion layout -> lesion table + 120x120 patches.

The synthetic DeepLesion folder (16-bit PNG slices + DL_info.csv) is written first, untimed; the
timed call is ``lesionmtl.datasets.ingest.ingest`` as the workflow's ``ingest`` rule runs it,
writing its outputs.
"""

from __future__ import annotations

from benchmarks.data import PATCH_SIZE, deeplesion_raw, synthetic_sizes
from benchmarks.timing import median, time_calls


def run(quick: bool, workdir) -> dict:
    from lesionmtl.datasets.ingest import ingest

    raw = deeplesion_raw(workdir, quick)
    out = workdir / "ingest_out"
    tables = []
    times = time_calls(lambda: tables.append(ingest("deeplesion", raw, out, patch_size=PATCH_SIZE, seed=0)),
                       repeat=1 if quick else 3)
    n = len(tables[-1])
    seconds = median(times)
    sizes = synthetic_sizes(quick)
    return {
        "figures": {"lesions_per_s": n / seconds, "ingest_s": seconds, "lesions": n},
        "settings": {**sizes, "patch_size": PATCH_SIZE, "repeats": len(times)},
        "notes": [f"synthetic DeepLesion, {sizes['n_cases']} key slices of {sizes['image_size']}px -> {n} lesions, "
                  f"{PATCH_SIZE}x{PATCH_SIZE} patches; median of {len(times)} run(s), outputs written"],
    }
