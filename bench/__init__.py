"""Benchmarks of the gateway (never run as tests): ``bench/kit`` is what they share, the scripts beside it are the
benchmarks' entry points. A package so that ``tests/interop`` can use the same gateway-process runner
(``bench.kit.process``) from the repository root without installing anything."""
