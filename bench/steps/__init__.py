"""Each benchmark's own steps and report, beside its entry point (``bench/<name>.py``); a benchmark imports only
``bench.kit`` and its own ``steps.<name>_*`` modules."""
