"""Measurement: how a case is timed, the same way in a run, in asv and in ``pairbench overhead``.

- :mod:`~suite.measure.execution`: a case as callables (mode x device x workload), the
  process state, device sync, compile time, repeats from an identical initial state;
- :mod:`~suite.measure.timing`: sample sizing and the statistics over samples (pure);
- :mod:`~suite.measure.calibration`: warm-up until stable, then size the samples;
- :mod:`~suite.measure.timing_loop`: the alternating loop over a group's cases (in the worker);
- :mod:`~suite.machine.gc_control`: the garbage collector around timed regions;
- :mod:`~suite.measure.rng_reset`: the random state restored before each repeat;
- :mod:`~suite.measure.hand_loop` and :mod:`~suite.measure.overhead`: the independent hand
  loop and ``pairbench overhead``, the yardstick the recorded times are checked against.
"""
