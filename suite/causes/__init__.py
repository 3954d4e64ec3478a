"""The cause engine: why two runs of "the same" model differ, in words a user acts on.

Every verdict other than ``identical`` carries its causes (``Record.causes``), ranked, each
with both values: ``configuration of batch_normalization: epsilon 0.001 vs 1e-05``.

- :mod:`suite.causes.cause`: the :class:`Cause` type, its vocabulary, ranking and wording;
- :mod:`suite.causes.layers`: which layer of a member stands for which of the reference;
- :mod:`suite.causes.config_diff`: configuration of matched layers;
- :mod:`suite.causes.graph` / :mod:`suite.causes.graph_diff`: traced graphs, compared in order;
- :mod:`suite.causes.training`: inference-mode layers in training, loss terms;
- :mod:`suite.causes.structure`: the audit's structural findings;
- :mod:`suite.causes.numerics`: modes, devices, precisions, reruns;
- :mod:`suite.causes.engine`: what a record gets (computed only where needed, cached).

Importing this package does not import TensorFlow.
"""

from suite.causes.cause import CONFIDENCE, KINDS, Cause, causes_text, describe, headline, lead, rank

__all__ = ["CONFIDENCE", "KINDS", "Cause", "causes_text", "describe", "headline", "lead", "rank"]
