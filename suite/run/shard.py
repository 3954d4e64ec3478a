"""Static shards of a plan: ``pairbench run --shard K/N`` runs a deterministic 1/N of the matrix.

A case is compared with other cases of the same pair, size and workload (``vs_pair``,
``vs_eager``, ``vs_cpu``, ``vs_fp64``, determinism ``off`` vs ``on``): those form one
*cluster*, and a split never separates a cluster, so a shard's verdicts are the ones an
unsharded run gives. Clusters are dealt largest first to the part with the fewest cases so
far (ties: the lower part, then the cluster's name): the split depends only on the plan, so
every copy of the command computes the same one. The same split spreads a run over the nodes
of a cluster (:mod:`suite.run.schedule`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from suite.case import Case
from suite.errors import UsageError

#: more shards than this is a typo
MAX_SHARDS = 10_000
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based: ``1/4`` ... ``4/4``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(spec: str) -> Shard:
    """Parse ``K/N`` (1 <= K <= N).

    Raises:
        UsageError: anything else, in one line.
    """
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if not match:
        raise UsageError(f"--shard must be K/N, e.g. 1/4 (got {spec!r})")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shard {spec}: N must be from 1 to {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise UsageError(
            f"--shard {spec}: K must be from 1 to N (shards are numbered 1/{count} ... {count}/{count})"
        )
    return Shard(index, count)


def cluster_key(case: Case) -> tuple[str, str, str]:
    """The cases a case is compared with share its pair, size and workload."""
    return (case.pair, case.size, case.workload)


def split_clusters(cases: Sequence[Case], parts: int) -> list[list[Case]]:
    """Split ``cases`` into ``parts`` lists (some may be empty) without separating a cluster.

    Each list keeps the order the cases have in ``cases``.
    """
    if parts < 1:
        raise ValueError("parts must be at least 1")
    sizes: dict[tuple[str, str, str], int] = {}
    for case in cases:
        key = cluster_key(case)
        sizes[key] = sizes.get(key, 0) + 1
    loads = [0] * parts
    assigned: dict[tuple[str, str, str], int] = {}
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        target = min(range(parts), key=lambda i: (loads[i], i))
        assigned[key] = target
        loads[target] += sizes[key]
    out: list[list[Case]] = [[] for _ in range(parts)]
    for case in cases:
        out[assigned[cluster_key(case)]].append(case)
    return out


def shard_cases(cases: Sequence[Case], shard: Shard) -> list[Case]:
    """The cases of one shard (see the module docstring)."""
    return split_clusters(cases, shard.count)[shard.index - 1]


def plan_digest(cases: Sequence[Case]) -> str:
    """A hash of the set of cases of a plan: every shard of a run records its whole plan's, and
    the shards' cases together hash to it again."""
    text = "\n".join(sorted(c.case_id for c in cases))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
