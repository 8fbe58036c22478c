"""The registry of architectures: every fact about a model kind, in one place.

The config schema's enums, the ``arch`` wildcard, the report's names and order and the ablation
lists all derive from :data:`ARCHITECTURES`; :func:`lesionmtl.models.build_model` builds from its
``builder``. Adding an architecture is one entry here (plus a builder in ``models.py`` if it needs a
new kind of network). No torch here: the Snakefile reads this module at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str  # config / wildcard / run-directory name
    display: str  # name in tables and figures
    builder: str  # network kind in lesionmtl.models.BUILDERS
    decoder: str  # decoder family, as the backbone ablation (Table 7) names it
    cluster_head: bool = False  # the K-way cluster classification head ("+L" in the paper)
    paired: bool = False  # segments an image together with a partner image (co-segmentation)
    cluster_pairs: bool = False  # paired with partners from the same K-means cluster

    @property
    def needs_clusters(self) -> bool:
        """Training uses the cluster labels (as classification targets or to make pairs)."""
        return self.cluster_head or self.cluster_pairs


# In the paper's order, which is the order of rows in every table and columns in every figure.
ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("a1", "A1", "deeplabv3plus", "DeepLabV3+"),
        Architecture("acoseg", "ACoseg", "acoseg", "DeepLabV3+", paired=True),
        Architecture("acosegc", "ACoseg (cluster pairs)", "acoseg", "DeepLabV3+", paired=True, cluster_pairs=True),
        Architecture("a1l", "A1+L", "deeplabv3plus", "DeepLabV3+", cluster_head=True),
        Architecture("unet", "U-Net", "unet", "U-Net"),
        Architecture("unetl", "U-Net+L", "unet", "U-Net", cluster_head=True),
    )
}
WITH_CLUSTER_HEAD = frozenset(a.name for a in ARCHITECTURES.values() if a.cluster_head)
PAIRED = frozenset(a.name for a in ARCHITECTURES.values() if a.paired)
# The paper's roles: the single-task baseline every change is measured against, the other
# baseline of the significance tests, and the proposed multi-task model.
BASELINE, COSEG_BASELINE, PROPOSED = "a1", "acoseg", "a1l"


def architecture(name: str) -> Architecture:
    """The registry entry of ``name``; the error lists the valid names."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def distinct_networks(cluster_head: bool) -> list[str]:
    """Architectures with (or without) a cluster head, the first of each network kind: those
    whose parameters differ (ACoseg with cluster pairs is ACoseg's network)."""
    first: dict[str, str] = {}
    for a in ARCHITECTURES.values():
        if a.cluster_head == cluster_head:
            first.setdefault(a.builder, a.name)
    return list(first.values())


def needs_clusters(arch: str) -> bool:
    """True when training ``arch`` uses the cluster labels (as classification targets or to make pairs)."""
    return architecture(arch).needs_clusters
