"""The configuration schema's defaults, the one place a setting's default value is written.

Read straight from ``config.schema.yaml``, without the rest of :mod:`lesionmtl.config` (its
registries and the experiment matrix): the models and the training loop take their defaults from
here, and an edit to the config machinery must not change their stages' code hashes
(:mod:`lesionmtl.provenance`).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


@functools.cache
def _section_defaults(section: str) -> tuple[tuple[str, Any], ...]:
    properties = yaml.safe_load(SCHEMA_PATH.read_text())["properties"][section]["properties"]
    return tuple((name, spec["default"]) for name, spec in properties.items() if "default" in spec)


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's default of every setting of a top-level ``section`` that has one (e.g. ``training``)."""
    return copy.deepcopy(dict(_section_defaults(section)))
