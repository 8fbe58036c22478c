"""Benchmark suite of the lesionmtl workflow: ``python -m benchmarks`` (see benchmarks/README.md)."""
