"""asv: the benchmark grid ``benchmarks/`` runs, and the published site without CDNs.

- :mod:`~suite.asv.grid`: the parameter grid from the zoo, setup and the measured functions
  that the thin files in ``benchmarks/`` call;
- :mod:`~suite.asv.offline`: a published asv site made to work offline (assets in
  ``suite/asv/assets/`` and from installed packages).
"""
