# Real datasets: fetch each file of the official release into raw_dir (downloaded, or the copy the
# user put there), verified against the published checksums, archives unpacked safely. Local
# rules: cluster compute nodes often have no internet. `resources: downloads` bounds how many
# archives are on disk at once (profiles set downloads=2).


localrules:
    fetch,


FETCH_DIRS = {Path(ds["raw_dir"]).as_posix(): name for name, ds in REAL_DATASETS.items() if FETCHED[name]}


def fetch_prerequisites(wildcards):
    name = FETCH_DIRS[wildcards.raw]
    before = dataset_release(REAL_DATASETS[name]).prerequisites(wildcards.file)
    return [receipt_path(wildcards.raw, f) for f in before if f in FETCHED[name]]


def fetch_keep_margin(wildcards):
    """DeepLesion image archives are unpacked around the lesions only: the margin shapes their output."""
    ds = REAL_DATASETS[FETCH_DIRS[wildcards.raw]]
    return keep_margin(ds) if dataset_release(ds).selects_slices(wildcards.file) else None


rule fetch:
    input:
        fetch_prerequisites,
    output:
        f"{{raw}}/{RECEIPTS}/{{file}}.json",
    log:
        f"{{raw}}/{RECEIPTS}/{{file}}.log",
    wildcard_constraints:
        raw="|".join(re.escape(d) for d in FETCH_DIRS) or "(?!)",
        file=r"[^/]+",
    resources:
        downloads=1,
    params:
        dataset=lambda w: FETCH_DIRS[w.raw],
        # What the unpacked files depend on; not the mirror, URL or code, so that neither a
        # different mirror nor a code edit downloads hundreds of gigabytes again.
        keep_margin=fetch_keep_margin,
    script:
        "../workflow_scripts/fetch.py"
