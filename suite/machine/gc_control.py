"""The garbage collector around timed regions (as ``timeit`` and pyperf do).

A full collection in a worker that imported TensorFlow and built a few models scans millions
of objects (about 150-200 ms on a 2-core machine): if it starts inside a timed region it lands
in one sample. So:

- :func:`paused_gc` collects, then disables the collector for the timed region, and restores
  its previous state afterwards (collection happens between regions, never inside one);
- :func:`frozen_heap` collects once and moves every object alive at that point (TensorFlow,
  Keras, the prepared models) to the permanent generation (:func:`gc.freeze`), so that the
  collections between samples only scan what the samples created: microseconds instead of
  a few hundred milliseconds. The heap is unfrozen on exit, so nothing is kept alive for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc(*, collect: bool = True) -> Iterator[None]:
    """Keep the collector off until the block ends, collecting first (a timed region).

    Args:
        collect: collect before pausing. Without it, the pause only spares the collector's
            rescans of many new objects that hold no cycles (records read in bulk).
    """
    was_enabled = gc.isenabled()
    if collect:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the duration of the block (cheap collections inside)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
