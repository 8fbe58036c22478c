# Real datasets: fetch each file of the official release into raw_dir (downloaded, or the copy the
# user put there), verified against the published checksums, archives unpacked safely. Local
# rules: cluster compute nodes often have no internet. `resources: downloads` bounds how many
# archives are on disk at once (profiles set downloads=2).


localrules:
    fetch,


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
        # The dataset's settings as an object, which Snakemake does not compare between runs, and
        # what the unpacked files depend on; not the mirror, URL or code, so that neither a
        # different mirror nor a code edit downloads hundreds of gigabytes again.
        dataset=lambda w: REAL_DATASETS[FETCH_DIRS[w.raw]],
        keep_margin=fetch_keep_margin,
    script:
        "../workflow_scripts/fetch.py"
