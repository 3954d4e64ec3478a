"""Divergence: metrics between outputs, verdicts, and localisation of the first difference.

Public API (what the worker calls; signatures are stable):

- :func:`compare_arrays`, :func:`compare_outputs`, :func:`rerun_spread` (pure numpy);
- :data:`TOLERANCES`, :func:`decide_verdict`, :func:`determinism_note`,
  :func:`explaining_comparison` (failure classification is in :mod:`suite.errors`);
- :func:`non_finite_note`: NaN/Inf in a case's own outputs (pure numpy);
- :func:`localise` (imports TensorFlow when called).

See ``docs/divergence.md`` for the definitions.
"""

from __future__ import annotations

from suite.divergence.finite import non_finite_note
from suite.divergence.localise import localise
from suite.divergence.metrics import compare_arrays
from suite.divergence.outputs import compare_outputs, rerun_spread
from suite.divergence.verdict import (
    TOLERANCES,
    decide_verdict,
    determinism_note,
    explaining_comparison,
)

__all__ = [
    "TOLERANCES",
    "compare_arrays",
    "compare_outputs",
    "decide_verdict",
    "determinism_note",
    "explaining_comparison",
    "localise",
    "non_finite_note",
    "rerun_spread",
]
