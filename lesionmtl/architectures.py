"""What each architecture needs, without importing torch (the Snakefile reads this at parse time)."""

from __future__ import annotations

ARCHITECTURES = ("a1", "a1l", "acoseg", "acosegc", "unet", "unetl")
# Architectures that carry the K-way cluster classification head ("+L" in the paper).
WITH_CLUSTER_HEAD = frozenset({"a1l", "unetl"})
# Architectures that segment an image together with a partner image (co-segmentation):
# "acoseg" trains on random pairs, "acosegc" on pairs from the same K-means cluster.
PAIRED = frozenset({"acoseg", "acosegc"})


def needs_clusters(arch: str) -> bool:
    """True when training uses the cluster labels (as classification targets or to make pairs)."""
    return arch in WITH_CLUSTER_HEAD or arch == "acosegc"
