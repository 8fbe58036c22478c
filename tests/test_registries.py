"""The registries every list derives from: report artefacts and dataset formats."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lesionmtl.config import load_schema
from lesionmtl.fetching.releases import release
from lesionmtl.formats import FORMATS, dataset_format
from lesionmtl.report import build
from lesionmtl.report.artefacts import ARTEFACTS, builders, markdown_table, output_key
from tests.conftest import REPO

CAPTIONS = REPO / "rules" / "captions"


def test_every_artefact_has_a_caption_a_builder_and_distinct_outputs():
    assert {p.stem for p in CAPTIONS.glob("*.rst")} - {"workflow"} == set(ARTEFACTS)
    for name, artefacts in builders().items():
        assert callable(build.builder(name))
        keys = [output_key(a, fmt, ds) for a in artefacts for ds in ("d1", "d2") for fmt in a.formats]
        assert len(keys) == len(set(keys)), name
    with pytest.raises(ValueError, match="no report artefact"):
        build.builder("write_table1")  # a function of build.py, but not a registered builder


def test_artefacts_of_one_builder_share_their_study_and_coverage():
    # one rule per builder: its inputs are read over one study's runs and one set of datasets
    for artefacts in builders().values():
        assert len({(a.study, a.scored) for a in artefacts}) == 1


def test_the_outputs_page_lists_every_artefact_as_the_registry_does():
    page = (REPO / "docs" / "outputs.md").read_text()
    assert markdown_table() in page, "regenerate with: python -m lesionmtl.report.artefacts"
    for a in ARTEFACTS.values():
        assert a.description in page


def test_the_schema_and_releases_take_the_formats_from_their_registry():
    schema = load_schema()
    assert schema["properties"]["datasets"]["additionalProperties"]["properties"]["format"]["enum"] == list(FORMATS)
    for fmt in FORMATS.values():
        assert fmt.load_reader().__name__ == fmt.reader.split(":")[1]
        writer = fmt.load_writer()
        assert callable(writer.write) and isinstance(writer.DEFAULTS, dict)
        assert release(fmt.name).name == fmt.release
    with pytest.raises(ValueError, match="choose one of deeplesion, lits, ham, recist_table"):
        dataset_format("nifti")


def test_the_registries_import_no_heavy_library():
    """The Snakefile reads both at parse time, and so does every job's start-up."""
    code = (
        "import sys, lesionmtl.formats, lesionmtl.report.artefacts; "
        "print(sorted(m for m in ('torch', 'pandas', 'cv2', 'matplotlib', 'nibabel') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
