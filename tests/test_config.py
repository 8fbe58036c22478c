"""The configuration (schema defaults, typed objects, the experiment matrix), run identity and
paths, and the architecture registry they all derive from."""

import pytest

from lesionmtl import paths
from lesionmtl.architectures import ARCHITECTURES, architecture, distinct_networks
from lesionmtl.config import ConfigError, load_config, load_schema
from lesionmtl.errors import LesionmtlError
from lesionmtl.runspec import SUPERVISIONS, RunSpec, parse_run_path
from tests.conftest import REPO, reversed_keys, tiny_config


def test_a_run_name_round_trips_through_its_directory():
    run = RunSpec("a1l", "grabcut", 8, 0.5, 2)
    assert run.name == "a1l-grabcut-k8-a0.5-s2"
    assert RunSpec.parse(run.name) == run
    file = paths.run_file("synth_ham", run, "metrics")
    assert file == "results/synth_ham/runs/a1l-grabcut-k8-a0.5-s2/metrics.parquet"
    assert parse_run_path(f"/elsewhere/{file}") == ("synth_ham", run)
    assert RunSpec("a1", "ellipse", 0, 50, 0).name == "a1-ellipse-k0-a50-s0"  # no "50.0"


@pytest.mark.parametrize(
    "name", ["a1l-ellipse-k8-a50", "resnet-ellipse-k8-a50-s0", "a1l-box-k8-a50-s0", "results/x/pseudo/ellipse.npy"]
)
def test_what_is_not_a_run_is_refused(name):
    with pytest.raises(ValueError, match="not"):
        RunSpec.parse(name)


def test_defaults_come_from_the_schema_once():
    config = tiny_config()
    del config["training"]["threads"]
    del config["report"]
    workflow = load_config(config)
    ham = workflow.datasets["synth_ham"]
    deeplesion = workflow.datasets["synth_deeplesion"]
    assert (ham.split_seed, ham.score_against, ham.reader, ham.k_sweep) == (0, "ground_truth", {}, (2, 3))
    assert deeplesion.split_fractions == [0.7, 0.2, 0.1]  # its generator's split_fractions is another thing
    assert (workflow.training.threads, workflow.training.mem_mb, workflow.training.runtime) == (1, 4000, 60)
    assert workflow.report.figure_lesions == 6 and workflow.pseudolabels.shards == 2
    assert workflow.clustering.features == "shape" and workflow.training.settings["head_dropout"] == 0.2
    assert config["report"] == {"figure_lesions": 6}, "defaults are written into the config itself"
    main = workflow.experiment.studies["main"]
    assert (
        main.supervision == ("ellipse",) and main.seeds == (0,) and main.datasets == ("synth_deeplesion", "synth_ham")
    )


def test_job_size_is_not_a_training_setting():
    training = load_config(tiny_config()).training
    assert not {"threads", "mem_mb", "runtime", "per_model"} & set(training.for_arch("a1"))
    paper = load_config(__import__("yaml").safe_load((REPO / "configs" / "paper.yaml").read_text())).training
    assert paper.for_arch("acoseg")["lr"] == 1e-5 and paper.for_arch("a1")["lr"] == 1e-3


def test_the_experiment_matrix_names_models_without_a_cluster_head_at_k0():
    workflow = load_config(tiny_config())
    assert [r.name for r in workflow.study_runs("synth_ham", "clusters")] == [
        "a1l-ellipse-k2-a50-s0",
        "a1l-ellipse-k3-a50-s0",
    ]
    assert workflow.study_runs("synth_deeplesion", "clusters") == []  # the study names synth_ham only
    assert workflow.study_runs("synth_ham", "no_such_study") == []
    main = [r.name for r in workflow.study_runs("synth_ham", "main")]
    assert main == ["a1-ellipse-k0-a50-s0", "acoseg-ellipse-k0-a50-s0", "a1l-ellipse-k3-a50-s0"]
    assert len(workflow.experiment_runs("synth_ham")) == 8  # shared runs counted once


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["experiment"]["studies"]["main"].update(models=["a1", "vit"]), "['models'][1]"),
        (lambda c: c["training"].update(per_model={"vit": {"lr": 1}}), "['training']['per_model']"),
        (lambda c: c["experiment"]["studies"]["main"].update(supervision=["box"]), "['supervision'][0]"),
    ],
)
def test_a_bad_config_names_the_key(change, where):
    config = tiny_config()
    change(config)
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert where in str(error.value)
    assert isinstance(error.value, LesionmtlError)  # so scripts and the CLI end with one line


def test_the_schema_enums_are_the_registries():
    schema = load_schema()
    assert schema["$defs"]["architecture"]["enum"] == list(ARCHITECTURES)
    assert schema["$defs"]["supervision"]["enum"] == list(SUPERVISIONS)


def test_every_architecture_has_a_builder_and_unknown_names_are_listed():
    from lesionmtl.models import BUILDERS

    assert {a.builder for a in ARCHITECTURES.values()} <= set(BUILDERS)
    assert distinct_networks(cluster_head=False) == ["a1", "acoseg", "unet"]
    assert distinct_networks(cluster_head=True) == ["a1l", "unetl"]
    with pytest.raises(ValueError, match="a1, acoseg, acosegc, a1l, unet, unetl"):
        architecture("vit")


def test_the_order_of_keys_in_the_file_does_not_change_a_runs_settings():
    config, reordered = tiny_config(), tiny_config()
    reordered["training"] = dict(reversed(list(reordered["training"].items())))
    first, second = (load_config(c).training.for_arch("a1") for c in (config, reordered))
    assert repr(first) == repr(second)  # Snakemake compares params by their text


def test_score_against_none_makes_a_dataset_unscored_and_refuses_full_supervision():
    config = tiny_config()
    config["datasets"]["synth_ham"]["score_against"] = "none"
    config["experiment"]["studies"]["supervision"]["datasets"] = ["synth_deeplesion"]
    datasets = load_config(config).datasets
    assert not datasets["synth_ham"].scored and datasets["synth_deeplesion"].scored
    del config["experiment"]["studies"]["supervision"]["datasets"]
    with pytest.raises(
        ConfigError, match=r"\['supervision'\]: supervision 'full' .* synth_ham has score_against: none"
    ):
        load_config(config)


def test_the_order_of_the_keys_changes_no_setting_a_rule_compares():
    """Snakemake compares a param's repr: every mapping reaches the rules sorted, datasets by name."""
    config = tiny_config()
    config["training"]["per_model"] = {"acoseg": {"lr": 1e-5, "batch_size": 8}}
    config["datasets"]["synth_ham"]["reader"] = {"pad": 20, "min_area": 4}
    ordered, reversed_ = load_config(config), load_config(reversed_keys(config))
    assert list(reversed_.datasets) == list(ordered.datasets) == sorted(config["datasets"])
    for name, ds in ordered.datasets.items():
        assert repr(reversed_.datasets[name].synthetic) == repr(ds.synthetic)
        assert repr(reversed_.datasets[name].reader) == repr(ds.reader)
    for arch in ("a1", "acoseg"):
        assert repr(reversed_.training.for_arch(arch)) == repr(ordered.training.for_arch(arch))


# -- study variants (the protocol study) ----------------------------------------------------------
def with_variants(**variants) -> dict:
    config = tiny_config()
    config["training"]["canvas"] = {"mode": "reflect", "size": [64, 80]}
    config["experiment"]["studies"]["protocol"] = {"models": ["a1", "a1l"], "variants": variants}
    return config


def test_merge_patch_merges_mappings_and_null_removes():
    from lesionmtl.config import merge_patch

    target = {"canvas": {"mode": "reflect", "size": [64, 80]}, "lr": 0.1, "keep": {"a": 1}}
    patch = {"canvas": {"mode": "crop", "size": None}, "lr": None, "keep": {"b": [2]}}
    assert merge_patch(target, patch) == {"canvas": {"mode": "crop"}, "keep": {"a": 1, "b": [2]}}
    assert target["canvas"] == {"mode": "reflect", "size": [64, 80]}  # not changed in place


def test_each_variant_is_its_own_dataset_with_its_own_settings():
    workflow = load_config(
        with_variants(
            released={},
            crop={"training": {"canvas": {"mode": "crop", "size": None}, "output_stride": 8}},
            exact={"datasets": ["synth_ham"], "dataset": {"pseudolabels": {"ellipse": None}, "k": 2}},
            shape={"models": ["a1l"], "seeds": [3, 4], "compare_with": "crop", "clustering": {"features": "released"}},
        )
    )
    derived = [name for name in workflow.datasets if name not in workflow.base_datasets]
    assert workflow.base_datasets == ["synth_deeplesion", "synth_ham"]
    assert derived == [  # base by base, the reference variant (no patch) first
        "synth_deeplesion@released", "synth_deeplesion@crop", "synth_deeplesion@shape",
        "synth_ham@released", "synth_ham@crop", "synth_ham@exact", "synth_ham@shape",
    ]  # fmt: skip
    assert workflow.experiment.studies["protocol"].datasets == tuple(derived)
    crop = workflow.training_for("synth_ham@crop", "a1")
    assert crop["canvas"] == {"mode": "crop"} and crop["output_stride"] == 8
    assert workflow.training_for("synth_ham@released", "a1")["canvas"] == {"mode": "reflect", "size": [64, 80]}
    assert workflow.training_for("synth_ham", "a1") == workflow.training.for_arch("a1")
    exact = workflow.datasets["synth_ham@exact"]
    assert (exact.base, exact.variant, exact.k) == ("synth_ham", "exact", 2)
    assert exact.pseudolabels["ellipse"]["draw"] == "exact"
    assert workflow.clustering_for("synth_ham@shape").features == "released"
    assert workflow.clustering_for("synth_ham@crop").features == "shape"
    assert [(r.arch, r.seed) for r in workflow.study_runs("synth_ham@shape", "protocol")] == [("a1l", 3), ("a1l", 4)]
    assert [(r.arch, r.seed) for r in workflow.study_runs("synth_ham@crop", "protocol")] == [("a1", 0), ("a1l", 0)]
    assert workflow.variants["synth_ham@shape"].compare_with == "synth_ham@crop"
    assert workflow.variants["synth_ham@crop"].compare_with == "synth_ham@released"
    assert workflow.variants["synth_ham@released"].compare_with is None
    assert workflow.variants["synth_ham@exact"].compare_with == "synth_ham@released"
    assert workflow.variants["synth_ham@exact"].changes == "dataset.k: 2; dataset.pseudolabels: {ellipse: null}"
    # no other study runs on a variant's dataset, and the variants leave the captions' note alone
    assert not any(workflow.study_runs(name, "main") for name in derived)
    assert workflow.protocol_note == load_config(with_variants(released={})).protocol_note


@pytest.mark.parametrize(
    ("variant", "said"),
    [
        ({"dataset": {"raw_dir": "elsewhere"}}, "['v']['dataset']: a variant reads its base dataset's raw files"),
        ({"training": {"threads": 4}}, "it cannot set threads"),
        ({"training": {"output_stride": 4}}, "['variants']['v']['training']['output_stride']"),
        ({"compare_with": "nothing"}, "['variants']['v']['compare_with']: no other variant 'nothing'"),
        ({"compare_with": "v"}, "no other variant 'v'"),
        ({"datasets": ["synth_lits"]}, "not datasets of the study: ['synth_lits']"),
        ({"evaluation": {"export_masks": True}}, "['variants']['v']"),
    ],
)
def test_a_bad_variant_names_itself(variant, said):
    with pytest.raises(ConfigError) as error:
        load_config(with_variants(v=variant))
    assert said in str(error.value)


def test_a_variant_on_a_dataset_the_config_lacks_names_it():
    config = with_variants(v={"datasets": ["gone"]})
    config["experiment"]["studies"]["protocol"]["datasets"] = ["synth_ham", "gone"]
    with pytest.raises(ConfigError, match=r"\['v'\]\['datasets'\]: not datasets in datasets: \['gone'\]"):
        load_config(config)


def test_variant_order_in_the_file_changes_nothing():
    variants = {"b": {"training": {"lr": 0.01}}, "a": {"training": {"lr": 0.1}}, "ref": {}}
    first, second = (load_config(with_variants(**v)) for v in (variants, reversed_keys(variants)))
    assert list(first.datasets) == list(second.datasets)
    assert repr(first.variants) == repr(second.variants)


def test_variants_that_would_mix_up_runs_are_refused():
    two = with_variants(a={"training": {"lr": 0.1}})
    two["experiment"]["studies"]["other"] = {"models": ["a1"], "variants": {"a": {"training": {"lr": 0.5}}}}
    with pytest.raises(ConfigError, match="synth_deeplesion@a is also a variant of another study"):
        load_config(two)
    narrow = with_variants(ref={"datasets": ["synth_ham"]}, fix={"compare_with": "ref", "training": {"lr": 0.1}})
    with pytest.raises(ConfigError, match="'ref' does not run on all of its datasets"):
        load_config(narrow)
    swept = with_variants(ref={})
    swept["experiment"]["studies"]["protocol"]["sweep_k"] = True
    with pytest.raises(ConfigError, match="without a K sweep"):
        load_config(swept)
    named = tiny_config()
    named["datasets"]["synth_ham@x"] = named["datasets"].pop("synth_ham")
    with pytest.raises(ConfigError, match="synth_ham@x"):
        load_config(named)
    listed = with_variants(ref={})
    listed["experiment"]["studies"]["main"]["datasets"] = ["synth_ham@ref"]
    with pytest.raises(ConfigError, match=r"\['main'\]\['datasets'\]: \['synth_ham@ref'\] name a study variant's copy"):
        load_config(listed)


def test_a_variants_training_patch_wins_over_per_model():
    config = with_variants(ref={}, small={"training": {"batch_size": 4}})
    config["training"]["per_model"] = {"a1": {"batch_size": 8, "lr": 1e-5}}
    workflow = load_config(config)
    assert workflow.training_for("synth_ham@small", "a1")["batch_size"] == 4
    assert workflow.training_for("synth_ham@small", "a1")["lr"] == 1e-5
    assert workflow.training_for("synth_ham@ref", "a1")["batch_size"] == 8
