"""The README is the way in: every docs page is reachable from it, and no relative link is dead."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _relative_links(page):
    return [target for target in LINK.findall(page.read_text()) if "://" not in target]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(REPO / target).resolve() for target in _relative_links(REPO / "README.md")}
    assert {page.resolve() for page in (REPO / "docs").glob("*.md")} <= linked


def test_no_relative_link_is_dead():
    for page in [REPO / "README.md", REPO / "benchmarks" / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in _relative_links(page):
            assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: dead link {target}"


def test_license_and_citation_files_say_what_pyproject_says():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["license"] == "MIT" and citation["version"] == project["version"]
    assert citation["preferred-citation"]["title"].startswith("Improving Weakly Supervised Lesion Segmentation")
