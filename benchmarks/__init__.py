"""Benchmarks (evidence, not tests): `python -m benchmarks.speed --out DIR`."""
