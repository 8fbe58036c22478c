import shutil

from lesionmtl import provenance


def test_editing_a_module_changes_the_hash_of_exactly_the_stages_using_it(tmp_path, monkeypatch):
    copy = tmp_path / "lesionmtl"
    shutil.copytree(provenance.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "PACKAGE_DIR", copy)
    before = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_CODE}
    assert before == {stage: provenance.code_hash(stage) for stage in provenance.STAGE_CODE}  # stable

    with open(copy / "clustering.py", "a") as handle:
        handle.write("\n# an edit\n")
    after = {stage: provenance.code_hash(stage) for stage in provenance.STAGE_CODE}
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert changed == {stage for stage, files in provenance.STAGE_CODE.items() if "clustering.py" in files}
    assert {"cluster", "evaluate"} == changed  # evaluation pairs ACoseg partners by shape features
    assert not changed & {"synthesize", "ingest", "pseudolabels", "train", "report"}


def test_every_listed_module_exists():
    for stage in provenance.STAGE_CODE:
        assert len(provenance.code_hash(stage)) == 16
