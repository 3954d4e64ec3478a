"""Measurement: how a case is timed, the same way in a run, in asv and in ``pairbench overhead``.

- :mod:`~suite.measure.process`: the worker's process state (precision, TF32, determinism,
  threads), device checks and device sync;
- :mod:`~suite.measure.workloads`: ``predict``, ``train_step`` and ``fit`` as a unit, a restore
  and a collect, wrapped in the case's mode;
- :mod:`~suite.measure.execution`: a case prepared (members built, weights copied, compile
  time) and its repeats from an identical initial state;
- :mod:`~suite.measure.timing`: sample sizing and the statistics over samples (pure);
- :mod:`~suite.measure.calibration`: warm-up until stable, then size the samples;
- :mod:`~suite.measure.timing_loop`: the alternating loop over a group's cases (in the worker);
- :mod:`~suite.machine.gc_control`: the garbage collector around timed regions;
- :mod:`~suite.measure.rng_reset`: the random state restored before each repeat;
- :mod:`~suite.measure.hand_loop` and :mod:`~suite.measure.overhead`: the independent hand
  loop and ``pairbench overhead``, the yardstick the recorded times are checked against.
"""
