"""The machine a run measures on: what it is, and the settings that change its numbers.

- :mod:`~suite.machine.provenance`: versions, devices, CUDA/cuDNN build, TF32 and determinism
  state (``run.json``'s ``provenance``, ``pairbench doctor``);
- :mod:`~suite.machine.telemetry`: NVML sampling of a GPU while a case runs;
- :mod:`~suite.machine.timing_settings`: thread pools, CPU affinity/governor, GPU clocks;
- :mod:`~suite.machine.env_check`: environment variables that change TensorFlow's numbers;
- :mod:`~suite.machine.tf_noise`: TensorFlow's native log noise kept off the terminal.
"""
