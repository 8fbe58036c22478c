# Real datasets: fetch each file of the official release into raw_dir (downloaded, or the copy the
# user put there), verified against the published checksums, archives unpacked safely. Local
# rules: cluster compute nodes often have no internet. `resources: downloads` bounds how many
# archives are on disk at once (profiles set downloads=2).


localrules:
    fetch,


FETCH_DIRS = {Path(ds["raw_dir"]).as_posix(): name for name, ds in REAL_DATASETS.items() if FETCHED[name]}


rule fetch:
    input:
        lambda w: [receipt_path(w.raw, f) for f in fetch_release(w).prerequisites(w.file) if f in FETCHED[FETCH_DIRS[w.raw]]],
    output:
        f"{{raw}}/{RECEIPTS}/{{file}}.json",
    params:
        dataset=lambda w: FETCH_DIRS[w.raw],
        # What the unpacked files depend on; not the mirror, URL or code, so that neither a
        # different mirror nor a code edit downloads hundreds of gigabytes again.
        keep_margin=lambda w: fetch_keep_margin(w),
    wildcard_constraints:
        raw="|".join(re.escape(d) for d in FETCH_DIRS) or "(?!)",
        file=r"[^/]+",
    resources:
        downloads=1,
    conda:
        "../envs/lesionmtl.yaml"
    log:
        f"{{raw}}/{RECEIPTS}/{{file}}.log",
    script:
        "../workflow_scripts/fetch.py"
