"""A training run's identity: its parameters, and the directory name that spells them out.

:data:`NAME_TEMPLATE` is the one definition of a run's name: :attr:`RunSpec.name` formats it, the
rules use it as their wildcard pattern, and :meth:`RunSpec.parse` reads it back (the report
recovers a run's parameters from its files' paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lesionmtl.architectures import ARCHITECTURES
from lesionmtl.paths import run_dir

SUPERVISIONS = ("ellipse", "grabcut", "full")
NAME_TEMPLATE = "{arch}-{supervision}-k{k}-a{alpha}-s{seed}"
# What each wildcard of the template matches (also the rules' wildcard constraints).
WILDCARD_PATTERNS = {
    "arch": "|".join(ARCHITECTURES),
    "supervision": "|".join(SUPERVISIONS),
    "k": r"\d+",
    "alpha": r"[0-9.e+-]+",
    "seed": r"\d+",
}
_NAME_RE = re.compile(
    re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>{WILDCARD_PATTERNS[m[1]]})", NAME_TEMPLATE.replace("-", r"\-"))
)


@dataclass(frozen=True)
class RunSpec:
    """One training run. Models without a cluster head have ``k=0``, so that K does not rename them."""

    arch: str
    supervision: str
    k: int
    alpha_seg: float
    seed: int

    @property
    def name(self) -> str:
        """Directory name, e.g. ``a1l-ellipse-k8-a50-s0``."""
        return NAME_TEMPLATE.format(
            arch=self.arch, supervision=self.supervision, k=self.k, alpha=f"{self.alpha_seg:g}", seed=self.seed
        )

    @classmethod
    def from_wildcards(cls, wildcards) -> RunSpec:
        """The run a job's wildcards (or any mapping with the fields of :data:`NAME_TEMPLATE`) stand for."""
        return cls(
            arch=wildcards["arch"],
            supervision=wildcards["supervision"],
            k=int(wildcards["k"]),
            alpha_seg=float(wildcards["alpha"]),
            seed=int(wildcards["seed"]),
        )

    @classmethod
    def parse(cls, path_or_name: str | Path) -> RunSpec:
        """The run a directory name, or any path through a run directory, names."""
        for part in reversed(Path(path_or_name).parts):
            if match := _NAME_RE.fullmatch(part):
                return cls.from_wildcards(match.groupdict())
        raise ValueError(f"not a run name or a path through a run directory: {path_or_name}")


_RUN_DIR_RE = re.compile(
    r"(?:^|/)"
    + re.escape(run_dir("{dataset}", "{run}"))
    .replace(re.escape("{dataset}"), r"(?P<dataset>[^/]+)")
    .replace(re.escape("{run}"), r"(?P<run>[^/]+)")
    + r"(?:/|$)"
)


def parse_run_path(path: str | Path) -> tuple[str, RunSpec]:
    """The dataset and run of a run directory or of a file in one (the inverse of
    :func:`lesionmtl.paths.run_file`)."""
    match = _RUN_DIR_RE.search(Path(path).as_posix())
    if not match:
        raise ValueError(f"not in a run directory ({run_dir('<dataset>', NAME_TEMPLATE)}): {path}")
    return match["dataset"], RunSpec.parse(match["run"])
