"""The cachefresh benchmark suite: ``python -m benchmarks --help``."""
