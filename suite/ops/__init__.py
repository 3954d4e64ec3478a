"""Operations: what runs unattended around the matrix.

- :mod:`~suite.ops.nightly`: ``pairbench nightly`` (doctor, asv, the matrix, compare with the
  previous night, publish, retention, a summary and an exit code);
- :mod:`~suite.ops.fleet`: several machines' results as one report and one asv site;
- :mod:`~suite.ops.gpu_check`: the whole check of a lent GPU machine in one call, each part
  time-boxed, at most 8 files back (``scripts/gpu_check.py``, docs/gpu-check.md).
"""
