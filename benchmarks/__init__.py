"""Benchmarks: side-by-side timings printed as ratios (run with `python -m benchmarks.<name>`)."""
