"""Compare two runs case by case: speed ratios with significance, divergence changes, exit codes.

- :mod:`~suite.compare.runs`: matching, per-case deltas, comparability, ``--fail-on``;
- :mod:`~suite.compare.load`: the two runs' records, matched by case id, chunk by chunk;
- :mod:`~suite.compare.significance`: Mann-Whitney U and the interval of a slowdown (pure).
"""
