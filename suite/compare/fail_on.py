"""``--fail-on``: which changes between two runs fail ``compare`` and the nightly."""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.errors import UsageError

FAIL_ON_GRAMMAR = "comma list of speed:<ratio>, divergence:any, divergence:verdict, divergence:ulp:<factor>"


@dataclass(frozen=True)
class FailOn:
    """Parsed ``--fail-on``.

    Attributes:
        speed: fail when a case is significantly slower by at least this ratio (None: never).
        divergence: subset of ``{"any", "verdict", "ulp"}``.
        ulp_factor: the factor of ``divergence:ulp:<factor>``.
    """

    speed: float | None = None
    divergence: frozenset[str] = frozenset()
    ulp_factor: float | None = None


def _positive(text: str, item: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--fail-on {item!r}: {text!r} is not a number; expected {FAIL_ON_GRAMMAR}"
        ) from None
    if not math.isfinite(value) or value < minimum:
        raise UsageError(f"--fail-on {item!r}: the value must be a finite number >= {minimum:g}")
    return value


def parse_fail_on(text: str) -> FailOn:
    """Parse ``--fail-on``, e.g. ``"speed:1.10,divergence:any"``.

    Grammar: a comma list of ``speed:<ratio>`` (ratio >= 1: fail when a case is
    significantly slower by at least that ratio), ``divergence:any`` (any divergence
    change), ``divergence:verdict`` (a worse verdict, newly nondeterministic or non-finite) and
    ``divergence:ulp:<factor>`` (factor >= 1: a max ULP grew by at least that factor).

    Args:
        text: the option's value.

    Returns:
        The :class:`FailOn`.

    Raises:
        UsageError: for anything else (one line naming the bad item).
    """
    speed, kinds, ulp = None, set(), None
    items = [i.strip() for i in str(text).split(",")]
    if not any(items):
        raise UsageError(f"--fail-on is empty; expected {FAIL_ON_GRAMMAR}")
    for item in items:
        key, _, value = item.partition(":")
        if key == "speed" and value:
            if speed is not None:
                raise UsageError(f"--fail-on: speed given twice ({text!r})")
            speed = _positive(value, item, 1.0)
        elif key == "divergence" and value in ("any", "verdict"):
            kinds.add(value)
        elif key == "divergence" and value.startswith("ulp:"):
            ulp = _positive(value[4:], item, 1.0)
            kinds.add("ulp")
        else:
            raise UsageError(f"--fail-on: cannot parse {item!r}; expected {FAIL_ON_GRAMMAR}")
    return FailOn(speed, frozenset(kinds), ulp)
