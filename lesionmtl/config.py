"""The workflow configuration: validated and defaulted once (defaults live in the schema), then
read through small frozen objects, and the experiment matrix (which runs exist, which study uses them).

A *study* is one block of the paper's evidence (Table 1, the supervision ablation, the K sweep,
...). It names its models and, optionally, its datasets (default: all), supervision, seeds,
alpha_seg values and whether it sweeps K. The runs of all studies are pooled (a run shared by two
studies is trained once), so removing an ablation is deleting its study from the config. A study
with *variants* (the protocol study) runs on derived datasets, ``dataset@variant``: the base
dataset's raw files under the variant's merge-patched settings (:func:`merge_patch`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from lesionmtl.architectures import ARCHITECTURES, needs_clusters
from lesionmtl.defaults import SCHEMA_PATH
from lesionmtl.errors import ConfigError
from lesionmtl.formats import FORMATS
from lesionmtl.runspec import SUPERVISIONS, RunSpec

# Settings of `training:` that size a job rather than shape its result (resources, not params).
JOB_SIZE = ("threads", "mem_mb", "runtime")
# A study variant's derived dataset is named <dataset><VARIANT_MARK><variant>, e.g. synth_lits@released.
VARIANT_MARK = "@"
# Keys of a dataset entry a variant may not patch: they say which raw files are read, which the
# derived dataset shares with its base; and the training keys that are resources or per model.
RAW_DATA_KEYS = ("format", "synthetic", "raw_dir", "source", "release", "mirror", "keep_margin")
FIXED_TRAINING_KEYS = (*JOB_SIZE, "per_model", "device")
# The keys of a variant that choose its runs rather than patch settings: a variant with no other
# key is a reference (the study's own settings), listed first and compared against by default.
RUN_CHOICES = ("datasets", "models", "seeds")


def derived_name(base: str, variant: str) -> str:
    """The dataset a study variant runs on: ``base`` under ``variant``'s settings."""
    return f"{base}{VARIANT_MARK}{variant}"


def is_reference(patch: dict) -> bool:
    """Whether a variant only chooses runs (no settings of its own): the study's reference."""
    return not set(patch) - set(RUN_CHOICES)


def load_schema() -> dict:
    """The schema, with the enums of dataset formats, architectures and supervisions filled in from their registries."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    schema["properties"]["datasets"]["additionalProperties"]["properties"]["format"]["enum"] = list(FORMATS)
    schema["$defs"]["architecture"]["enum"] = list(ARCHITECTURES)
    schema["$defs"]["supervision"]["enum"] = list(SUPERVISIONS)
    return schema


def canonical(value: Any) -> Any:
    """``value`` with every mapping in it sorted by key, recursively (lists keep their order).

    YAML mappings are unordered: as a rule's param, whose text Snakemake compares between runs,
    the order of the keys in a config file must not rerun anything.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return type(value)(canonical(item) for item in value)
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with the JSON merge patch ``patch`` applied (RFC 7386): mappings merge key by key,
    ``None`` removes a key (the schema's default then fills it in again), anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _set_defaults(validator, properties, instance, schema):
    for name, subschema in properties.items():
        if "default" in subschema and isinstance(instance, dict):
            instance.setdefault(name, copy.deepcopy(subschema["default"]))
    yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


_DefaultingValidator = validators.extend(Draft202012Validator, {"properties": _set_defaults})


def validated(instance: Any, schema: dict) -> Any:
    """A copy of ``instance`` with the defaults of ``schema`` (a part of the config schema) filled in."""
    instance = copy.deepcopy(instance)
    next(iter(_DefaultingValidator(schema).iter_errors(instance)), None)
    return instance


def validate(config: dict, schema: dict | None = None, at: str = "") -> None:
    """Check ``config`` (or a part of it at ``at``, against its part ``schema`` of the config schema)
    and fill in the schema's defaults, in place."""
    error = next(iter(_DefaultingValidator(schema or load_schema()).iter_errors(config)), None)
    if error is not None:
        where = at + "".join(f"[{p!r}]" for p in error.absolute_path) or "the top level"
        raise ConfigError(f"invalid configuration at {where}: {error.message}")


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    format: str
    patch_size: int | list[int]
    k: int
    k_sweep: tuple[int, ...]
    split_fractions: list[float]
    split_seed: int
    score_against: str  # ground_truth, grabcut where there is none, or none: trained, never scored
    reader: dict[str, Any]
    split_by: str  # group, or image_released (the released HAM10000 split)
    pseudolabels: dict[str, Any]  # {"ellipse": {...}, "grabcut": {...}}: lesionmtl.pseudolabels
    synthetic: dict[str, Any] | None  # generator settings; None: real data in raw_dir
    raw: dict[str, Any]  # the validated entry itself (what lesionmtl.fetching reads)
    base: str = ""  # the dataset whose raw files it reads: itself, or the base of a study variant
    variant: str | None = None  # the study variant it is derived for (name dataset@variant)

    @classmethod
    def from_dict(cls, name: str, ds: dict, base: str | None = None, variant: str | None = None) -> DatasetConfig:
        return cls(
            base=base or name,
            variant=variant,
            name=name,
            format=ds["format"],
            patch_size=ds["patch_size"],
            k=ds["k"],
            k_sweep=tuple(ds.get("k_sweep", [ds["k"]])),
            split_fractions=ds["split_fractions"],
            split_seed=ds["split_seed"],
            score_against=ds["score_against"],
            reader=canonical(ds["reader"]),
            split_by=ds["split_by"],
            pseudolabels=canonical(ds["pseudolabels"]),
            synthetic=canonical(ds.get("synthetic")),
            raw=ds,
        )

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic is not None

    @property
    def scored(self) -> bool:
        """Whether its runs are evaluated and enter the scored tables and figures (not ``score_against: none``)."""
        return self.score_against != "none"

    @property
    def raw_dir(self) -> str | None:
        return self.raw.get("raw_dir")


@dataclass(frozen=True)
class Study:
    name: str
    models: tuple[str, ...]
    supervision: tuple[str, ...]
    seeds: tuple[int, ...]
    alpha_seg: tuple[float, ...]
    sweep_k: bool
    datasets: tuple[str, ...]  # with variants: the derived datasets, base by base, variant by variant
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExperimentConfig:
    """The experiment's shared settings; the default seeds and alpha_seg live in each Study."""

    alpha_cls: float
    studies: dict[str, Study]


@dataclass(frozen=True)
class TrainingConfig:
    settings: dict[str, Any]  # what shapes a run's result: encoder, epochs, lr, ... (a variant's: VariantSettings)
    per_model: dict[str, dict[str, Any]]  # settings that differ per architecture
    threads: int
    mem_mb: int
    runtime: int  # minutes per training job

    def for_arch(self, arch: str) -> dict[str, Any]:
        """The settings of one architecture's runs: the shared ones, then its own (ACoseg: lr, batch),
        sorted by name, nested dicts too (:func:`canonical`)."""
        return canonical({**self.settings, **self.per_model.get(arch, {})})


@dataclass(frozen=True)
class ClusteringConfig:
    features: str  # shape, with_centre or released
    fit_on: str  # train, or all (released)


@dataclass(frozen=True)
class PseudolabelConfig:
    grabcut_iterations: int
    shards: int


@dataclass(frozen=True)
class EvaluationConfig:
    metrics: str  # ours, or released (lesionmtl.metrics.score_masks protocol)
    export_masks: bool  # also write the test predictions as per-lesion PNG masks in source coordinates


@dataclass(frozen=True)
class ReportConfig:
    figure_lesions: int


@dataclass(frozen=True)
class VariantSettings:
    """What a study variant sets for its derived dataset beside the dataset entry: the training
    settings (no resources, no per-model values), the clustering, and the metric protocol."""

    training: dict[str, Any]
    patched: tuple[str, ...]  # the training keys it sets: they win over per_model
    clustering: ClusteringConfig
    metrics: str
    changes: str  # its patches, as one line for the protocol table
    compare_with: str | None  # the derived dataset its difference is stated against
    models: tuple[str, ...] | None  # the models it trains, where not the study's
    seeds: tuple[int, ...] | None  # its seeds, where not the study's


@dataclass(frozen=True)
class WorkflowConfig:
    datasets: dict[str, DatasetConfig]
    experiment: ExperimentConfig
    training: TrainingConfig
    clustering: ClusteringConfig
    pseudolabels: PseudolabelConfig
    evaluation: EvaluationConfig
    report: ReportConfig
    variants: dict[str, VariantSettings] = field(default_factory=dict)  # by derived dataset name

    @property
    def base_datasets(self) -> list[str]:
        """The datasets of the config's ``datasets:`` (not derived for a study variant), in order."""
        return [name for name, ds in self.datasets.items() if ds.variant is None]

    def training_for(self, dataset: str, arch: str) -> dict[str, Any]:
        """The training settings of one architecture's runs on ``dataset`` (a variant's own, if derived)."""
        variant = self.variants.get(dataset)
        if variant is None:
            return self.training.for_arch(arch)
        per_model = {k: v for k, v in self.training.per_model.get(arch, {}).items() if k not in variant.patched}
        return canonical({**variant.training, **per_model})

    def variant_facts(self, dataset: str) -> dict[str, Any]:
        """What the protocol table shows of ``dataset``: its base, variant, changes and the derived
        dataset it is compared with (a dataset of the config's own: itself, no variant, none)."""
        ds, variant = self.datasets[dataset], self.variants.get(dataset)
        if variant is None:
            return {"base": ds.base, "variant": "-", "changes": "none", "compare_with": None}
        return {
            "base": ds.base,
            "variant": ds.variant,
            "changes": variant.changes,
            "compare_with": variant.compare_with,
        }

    def clustering_for(self, dataset: str) -> ClusteringConfig:
        variant = self.variants.get(dataset)
        return variant.clustering if variant else self.clustering

    def metrics_for(self, dataset: str) -> str:
        """The metric protocol ``dataset``'s runs are scored with (lesionmtl.metrics)."""
        variant = self.variants.get(dataset)
        return variant.metrics if variant else self.evaluation.metrics

    @property
    def data_label(self) -> str:
        """What the results were computed on, for every title: synthetic data, real data, or both."""
        kinds = {"synthetic data" if ds.is_synthetic else "real data" for ds in self.datasets.values()}
        return " and ".join(sorted(kinds))

    @property
    def protocol_note(self) -> str:
        """The protocol switches (docs/released_code.md) set off lesionmtl's defaults, as a sentence
        every caption ends with ("" when all are at their defaults): a table's meaning never
        changes silently."""
        schema = load_schema()["properties"]
        dataset_schema = schema["datasets"]["additionalProperties"]["properties"]
        notes = []
        canvas = self.training.settings["canvas"]
        if canvas != schema["training"]["properties"]["canvas"]["default"]:
            notes.append(f"input canvas {canvas} (loss over the canvas, scores on the patch)")
        stride = self.training.settings["output_stride"]
        if stride != schema["training"]["properties"]["output_stride"]["default"]:
            notes.append(f"DeepLabV3+ output stride {stride} (paper 16)")
        for key in ("features", "fit_on"):
            value = getattr(self.clustering, key)
            if value != schema["clustering"]["properties"][key]["default"]:
                notes.append(f"clustering {key} {value}")
        if self.evaluation.metrics != schema["evaluation"]["properties"]["metrics"]["default"]:
            notes.append(
                "released metrics (the AVD column is MedPy's Hausdorff distance, the perimeter error half "
                "the difference of Canny edge counts, kept for empty predictions)"
            )
        pseudo = dataset_schema["pseudolabels"]["properties"]
        for ds in (self.datasets[name] for name in self.base_datasets):  # a variant's table names its own
            changed = [
                f"{kind} {ds.pseudolabels[kind]}"
                for kind in ("ellipse", "grabcut")
                if ds.pseudolabels[kind] != validated(pseudo[kind]["default"], pseudo[kind])
            ]
            if ds.split_by != dataset_schema["split_by"]["default"]:
                changed.append(f"split by {ds.split_by}")
            changed += [f"reader {k} {ds.reader[k]}" for k in ("min_hull_vertices",) if k in ds.reader]
            if changed:
                notes.append(f"{ds.name}: {', '.join(changed)}")
        return (
            f" Protocol switches off lesionmtl's defaults (docs/released_code.md): {'; '.join(notes)}." if notes else ""
        )

    def study_runs(self, dataset: str, study: str) -> list[RunSpec]:
        """Runs of one study on one dataset, in a stable order (none when the study is not configured).

        Models without a cluster head get ``k=0`` so that changing K does not rerun them.
        """
        spec = self.experiment.studies.get(study)
        if spec is None or dataset not in spec.datasets:
            return []
        ds = self.datasets[dataset]
        k_values = ds.k_sweep if spec.sweep_k else (ds.k,)
        variant = self.variants.get(dataset)
        models = variant.models if variant and variant.models else spec.models
        seeds = variant.seeds if variant and variant.seeds else spec.seeds
        runs = [
            RunSpec(arch, supervision, k, alpha, seed)
            for arch in models
            for supervision in spec.supervision
            for k in (k_values if needs_clusters(arch) else (0,))
            for alpha in spec.alpha_seg
            for seed in seeds
        ]
        return list(dict.fromkeys(runs))

    def experiment_runs(self, dataset: str) -> list[RunSpec]:
        """Every run any study needs on ``dataset``, each once."""
        runs = [run for study in self.experiment.studies for run in self.study_runs(dataset, study)]
        return list(dict.fromkeys(runs))


def load_config(config: dict) -> WorkflowConfig:
    """Validate ``config`` (filling in the schema's defaults, in place) and parse it."""
    schema = load_schema()
    validate(config, schema)
    exp, training = config["experiment"], config["training"]
    studies = {
        name: Study(
            name=name,
            models=tuple(spec["models"]),
            supervision=tuple(spec["supervision"]),
            seeds=tuple(spec.get("seeds", exp["seeds"])),
            alpha_seg=tuple(spec.get("alpha_seg", [exp["alpha_seg"]])),
            sweep_k=spec["sweep_k"],
            datasets=tuple(spec.get("datasets", config["datasets"])),
            # the variant without a patch (the study's reference) first, then by name
            variants=tuple(sorted(spec.get("variants", {}), key=lambda v: (not is_reference(spec["variants"][v]), v))),
        )
        for name, spec in exp["studies"].items()
    }
    # Not in file order: every list and mapping over datasets (rows of the tables, the report rules'
    # params) is then the same however the config file orders its keys. By format in the registry's
    # order (the paper's: DeepLesion, LiTS, HAM10000, then users' tables), then by name.
    formats = list(FORMATS)
    order = sorted(config["datasets"], key=lambda name: (formats.index(config["datasets"][name]["format"]), name))
    datasets = {name: DatasetConfig.from_dict(name, config["datasets"][name]) for name in order}
    for study in studies.values():  # a study may list datasets the config does not have (then: none)
        copies = sorted(name for name in study.datasets if VARIANT_MARK in name)
        if copies:
            raise ConfigError(
                f"invalid configuration at ['experiment']['studies'][{study.name!r}]['datasets']: {copies} "
                "name a study variant's copy of a dataset; only the study with that variant runs on it"
            )
    variants = _expand_variants(config, schema, studies, datasets)
    _check_full_supervision(studies, datasets)
    return WorkflowConfig(
        datasets=datasets,
        experiment=ExperimentConfig(exp["alpha_cls"], studies),
        training=TrainingConfig(
            settings={k: v for k, v in training.items() if k not in (*JOB_SIZE, "per_model")},
            per_model=training["per_model"],
            **{k: training[k] for k in JOB_SIZE},
        ),
        clustering=ClusteringConfig(**config["clustering"]),
        pseudolabels=PseudolabelConfig(**config["pseudolabels"]),
        evaluation=EvaluationConfig(**config["evaluation"]),
        report=ReportConfig(**config["report"]),
        variants=variants,
    )


def _one_line(value: Any) -> str:
    """A config value as YAML on one line ({mode: crop}, null, 8)."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("...\n").strip()


def _expand_variants(
    config: dict, schema: dict, studies: dict[str, Study], datasets: dict[str, DatasetConfig]
) -> dict[str, VariantSettings]:
    """Add each study variant's derived datasets to ``datasets`` (after the base datasets, base by
    base) and to its study, in place; return their settings by derived name."""
    order, variants = list(datasets), {}
    for study in studies.values():
        specs = config["experiment"]["studies"][study.name].get("variants", {})
        if not specs:
            continue
        where = f"['experiment']['studies'][{study.name!r}]"
        if study.sweep_k or len(study.supervision) > 1 or len(study.alpha_seg) > 1:
            raise ConfigError(
                f"invalid configuration at {where}: a study with variants compares protocols at one supervision "
                "and one alpha_seg, without a K sweep; give the other axes a study of their own"
            )
        references = [name for name in study.variants if is_reference(specs[name])]
        derived = {}
        for variant in study.variants:
            at = f"{where}['variants'][{variant!r}]"
            patch = specs[variant]
            bases = patch.get("datasets", [name for name in study.datasets if name in order])
            if "compare_with" in patch:
                compare_with = patch["compare_with"]
                _check_comparison(specs, study, variant, compare_with, at)
            else:  # the reference, where it runs on the variant's datasets and models
                compare_with = next((r for r in references if r != variant and _covers(specs, study, r, variant)), None)
            _check_datasets(study, bases, order, at)
            for base in bases:
                name = derived_name(base, variant)
                if name in variants:
                    raise ConfigError(f"invalid configuration at {at}: {name} is also a variant of another study")
                derived[name], variants[name] = _derive(
                    config, schema, base, variant, patch, at, compare_with and derived_name(base, compare_with)
                )
        datasets.update(sorted(derived.items(), key=lambda item: order.index(item[1].base)))
        studies[study.name] = replace(study, datasets=tuple(name for name in datasets if name in derived))
    return variants


def _check_datasets(study: Study, bases: list[str], configured: list[str], at: str) -> None:
    """A variant's datasets must be its study's, and in the config's ``datasets:``."""
    for names, of in ((study.datasets, "of the study"), (configured, "in datasets")):
        unknown = sorted(set(bases) - set(names))
        if unknown:
            raise ConfigError(f"invalid configuration at {at}['datasets']: not datasets {of}: {unknown}")


def _covers(specs: dict, study: Study, other: str, variant: str) -> bool:
    """Whether variant ``other`` runs on all of ``variant``'s datasets and on one of its models."""
    datasets = set(specs[variant].get("datasets", study.datasets))
    models = set(specs[variant].get("models", study.models))
    return datasets <= set(specs[other].get("datasets", study.datasets)) and bool(
        models & set(specs[other].get("models", study.models))
    )


def _check_comparison(specs: dict, study: Study, variant: str, compare_with: str, at: str) -> None:
    """The variant a variant names to be compared with must be another one, covering its datasets and
    some of its models."""
    if compare_with not in specs or compare_with == variant:
        raise ConfigError(f"invalid configuration at {at}['compare_with']: no other variant {compare_with!r}")
    if not _covers(specs, study, compare_with, variant):
        raise ConfigError(
            f"invalid configuration at {at}['compare_with']: {compare_with!r} does not run on all of its "
            "datasets or on any of its models"
        )


def _derive(
    config: dict, schema: dict, base: str, variant: str, patch: dict, at: str, compare_with: str | None
) -> tuple[DatasetConfig, VariantSettings]:
    """The dataset and settings of ``variant`` of a study on ``base``: the variant's merge patches
    applied to the validated config, and validated again (``at``: where the variant is, for errors)."""
    for section, fixed, why in (
        ("dataset", RAW_DATA_KEYS, "a variant reads its base dataset's raw files"),
        ("training", FIXED_TRAINING_KEYS, "resources and per-model settings are the same for every dataset"),
    ):
        clash = sorted(set(patch.get(section, {})) & set(fixed))
        if clash:
            raise ConfigError(f"invalid configuration at {at}[{section!r}]: {why}; it cannot set {', '.join(clash)}")
    parts = {}
    for section, target, part in (
        ("dataset", config["datasets"][base], schema["properties"]["datasets"]["additionalProperties"]),
        ("training", config["training"], schema["properties"]["training"]),
        ("clustering", config["clustering"], schema["properties"]["clustering"]),
        ("evaluation", config["evaluation"], schema["properties"]["evaluation"]),
    ):
        parts[section] = merge_patch(target, patch.get(section, {}))
        validate(parts[section], {**part, "$defs": schema["$defs"]}, f"{at}[{section!r}]")
    changes = "; ".join(
        f"{section}.{key}: {_one_line(value)}"
        for section in ("dataset", "training", "clustering", "evaluation")
        for key, value in canonical(patch.get(section, {})).items()
    )
    return (
        DatasetConfig.from_dict(derived_name(base, variant), parts["dataset"], base=base, variant=variant),
        VariantSettings(
            training={k: v for k, v in parts["training"].items() if k not in (*JOB_SIZE, "per_model")},
            patched=tuple(sorted(patch.get("training", {}))),
            clustering=ClusteringConfig(**parts["clustering"]),
            metrics=parts["evaluation"]["metrics"],
            changes=changes or "none",
            compare_with=compare_with,
            models=tuple(patch["models"]) if "models" in patch else None,
            seeds=tuple(patch["seeds"]) if "seeds" in patch else None,
        ),
    )


def _check_full_supervision(studies: dict[str, Study], datasets: dict[str, DatasetConfig]) -> None:
    """ "full" supervision trains on the reference masks, which an unscored dataset has not."""
    for study in studies.values():
        if "full" not in study.supervision:
            continue
        unscored = [ds for ds in study.datasets if ds in datasets and not datasets[ds].scored]
        if unscored:
            raise ConfigError(
                f"invalid configuration at ['experiment']['studies'][{study.name!r}]: supervision 'full' "
                f"trains on reference masks, and {', '.join(unscored)} has score_against: none; drop 'full' "
                "or give the study a datasets list without it"
            )
