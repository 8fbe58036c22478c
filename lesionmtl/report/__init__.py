"""Tables and figures of the paper, regenerated from the Parquet outputs of the runs."""
