"""asv benchmarks of pairbench (``asv.conf.json``: ``benchmark_dir``); see ``docs/asv.md``."""
