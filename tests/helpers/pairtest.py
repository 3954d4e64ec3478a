"""``run_pair_test`` lives in the package now (:mod:`suite.testing`); this module keeps the
tests' old import working::

    from tests.pairtest import run_pair_test
    run_pair_test("my_pair")
"""

from __future__ import annotations

from suite.testing import PairTestResult, run_pair_test

__all__ = ["PairTestResult", "run_pair_test"]
