"""The model zoo: paired members with identical weights, audits and user-supplied pairs.

Public API: :class:`Pair`, :class:`Batch`, :func:`register_pair`, :func:`register_models` (a
pair from plain models), :func:`get_pair`, :func:`registered`, :func:`load_pairs_from`,
:func:`load_builtin_pairs`.
"""

from __future__ import annotations

from suite.zoo.base import Batch, Pair, normal_batch, register_pair
from suite.zoo.catalog import BUILTIN_MODULES, get_pair, load_builtin_pairs, load_pairs_from, registered
from suite.zoo.models import register_models

__all__ = [
    "BUILTIN_MODULES",
    "Batch",
    "Pair",
    "get_pair",
    "load_builtin_pairs",
    "load_pairs_from",
    "normal_batch",
    "register_models",
    "register_pair",
    "registered",
]
