"""Overhead of pairbench's recorded step time versus an independent hand loop (a benchmark,
not a test): what ``pairbench overhead`` measures.

Each round starts two kinds of process, one after the other, and the next round swaps their
order (A B, B A, A B, ...) so that a slow drift of the machine touches both alike:

- ``pairbench``: a real ``pairbench run`` (``python -m suite run``, the same command a user
  types: parent, worker, warm-up, calibration, alternating repeats, evaluation) of the pairs'
  reference members, whose records give ``timing.step_s_median``: what a run records;
- ``hand``: ``python -m suite.measure.hand_loop`` (:mod:`suite.measure.hand_loop`), a minimal loop that shares
  no timing code with pairbench, timed in steady state in its own process.

For each case the ratio is the median over rounds of pairbench's medians divided by the median
over rounds of the hand loop's medians. Target: within [0.97, 1.03] on a quiet CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the band a ratio should be in
TARGET = (0.97, 1.03)
#: the ``pairbench run`` options of every round (the side-by-side check of issue 17)
RUN_FLAGS: tuple[str, ...] = (
    "--no-fp64",
    "--no-localise",
    "--no-report",
    "--quiet",
    "--precisions",
    "float32",
)

Key = tuple[str, str, str]  # (pair, workload, mode)


@dataclass(frozen=True)
class OverheadRow:
    """One (pair, workload, mode) comparison; times are per step, in seconds.

    Attributes:
        pairbench_s: median over rounds of the run's recorded ``step_s_median``.
        hand_s: median over rounds of the hand loop's median.
        pairbench_rounds, hand_rounds: the per-round medians.
    """

    pair: str
    workload: str
    mode: str
    device: str
    size: str
    pairbench_s: float
    hand_s: float
    pairbench_rounds: tuple[float, ...]
    hand_rounds: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """pairbench / hand-loop median step time."""
        return self.pairbench_s / self.hand_s

    @property
    def noise(self) -> float:
        """The larger relative round-to-round spread ((max - min) / median) of the two sides."""
        return max(_spread(self.pairbench_rounds), _spread(self.hand_rounds))

    @property
    def note(self) -> str:
        """Empty inside :data:`TARGET`; otherwise whether the round-to-round noise covers it."""
        low, high = TARGET
        if low <= self.ratio <= high:
            return ""
        if abs(self.ratio - 1.0) <= self.noise:
            return f"within round-to-round noise ({self.noise:.0%})"
        return "outside the target beyond the noise"


def _spread(values: tuple[float, ...]) -> float:
    arr = np.asarray(values, dtype=float)
    return float((arr.max() - arr.min()) / np.median(arr)) if arr.size else float("nan")


def reference_members(pairs: list[str]) -> dict[str, list[str]]:
    """Pairs grouped by their reference member (one ``pairbench run`` per group and round)."""
    from suite.zoo import get_pair

    groups: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        groups[get_pair(pair).reference].append(pair)
    return dict(groups)


def pairbench_round(
    pairs: list[str],
    workloads: list[str],
    modes: list[str],
    *,
    device: str,
    size: str,
    repeats: int,
    results_dir: Path,
    run_id: str,
    extra: tuple[str, ...] = (),
) -> dict[Key, float]:
    """``pairbench run`` of the reference members; each case's recorded median step time.

    Raises:
        RuntimeError: a run exits non-zero or a case has no timing (its verdict and reason).
    """
    from suite.results.run_dir import RunDir

    out: dict[Key, float] = {}
    for member, group in reference_members(pairs).items():
        rid = f"{run_id}-{member}"
        argv = [
            *("--pairs", ",".join(group), "--members", member, "--workloads", ",".join(workloads)),
            *("--modes", ",".join(modes), "--devices", device, "--sizes", size, "--repeats", str(repeats)),
            *("--results-dir", str(results_dir), "--run-id", rid, *RUN_FLAGS, *extra),
        ]
        proc = subprocess.run([sys.executable, "-m", "suite", "run", *argv], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pairbench run {rid} exited {proc.returncode}: {_last_line(proc.stderr)}")
        for rec in RunDir(results_dir / rid).records():
            median = (rec.timing or {}).get("step_s_median")
            if median is None:
                raise RuntimeError(f"{rec.case_id}: no timing ({rec.verdict}: {rec.reason})")
            out[(rec.case.pair, rec.case.workload, rec.case.mode)] = float(median)
    return out


def hand_round(
    pairs: list[str],
    workloads: list[str],
    modes: list[str],
    *,
    device: str,
    size: str,
    extra: tuple[str, ...] = (),
) -> dict[Key, float]:
    """The hand loop of every pair in its own process; each case's median step time.

    Raises:
        RuntimeError: a hand-loop process exits non-zero.
    """
    out: dict[Key, float] = {}
    for pair in pairs:
        argv = [
            *("--pair", pair, "--workloads", ",".join(workloads), "--modes", ",".join(modes)),
            *("--size", size, "--device", device, *extra),
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "suite.measure.hand_loop", *argv],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"hand loop of {pair} exited {proc.returncode}: {_last_line(proc.stderr)}")
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                data = json.loads(line)
                out[(data["pair"], data["workload"], data["mode"])] = float(np.median(data["step_s"]))
    return out


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def measure(
    pairs: list[str],
    workloads: list[str],
    modes: list[str],
    *,
    device: str = "cpu",
    size: str = "default",
    rounds: int = 4,
    repeats: int = 10,
    threads: tuple[int | None, int | None] = (None, None),
    pairs_from: tuple[str, ...] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> list[OverheadRow]:
    """Alternate ``rounds`` ``pairbench run`` processes with hand-loop processes (see the module
    docstring) and compare their medians, case by case.

    Args:
        pairs, workloads, modes: the cases (each pair's reference member).
        device, size: where and how large.
        rounds: rounds of both kinds of process.
        repeats: ``pairbench run --repeats``.
        threads: ``(intra, inter)`` op threads for both sides (None: TensorFlow's default).
        pairs_from: user pair files, loaded by both sides.
        progress: called with one line before each process.

    Raises:
        RuntimeError: a process failed (the reason is in the message).
    """
    extra: tuple[str, ...] = tuple(arg for path in pairs_from for arg in ("--pairs-from", path))
    for flag, value in zip(("--intra-op-threads", "--inter-op-threads"), threads, strict=True):
        if value is not None:
            extra += (flag, str(value))
    got: dict[str, dict[Key, list[float]]] = {"pairbench": defaultdict(list), "hand": defaultdict(list)}
    with tempfile.TemporaryDirectory(prefix="pairbench-overhead-") as tmp:
        sides: dict[str, Callable[[int], dict[Key, float]]] = {
            "pairbench": lambda i: pairbench_round(
                pairs, workloads, modes, device=device, size=size, repeats=repeats,
                results_dir=Path(tmp), run_id=f"round{i}", extra=extra,
            ),
            "hand": lambda i: hand_round(pairs, workloads, modes, device=device, size=size, extra=extra),
        }  # fmt: skip
        for i in range(rounds):
            for side in ("pairbench", "hand") if i % 2 == 0 else ("hand", "pairbench"):
                progress(f"round {i + 1}/{rounds}: {side}")
                for key, value in sides[side](i).items():
                    got[side][key].append(value)
    ours, theirs = got["pairbench"], got["hand"]
    rows = []
    for pair in pairs:
        for workload in workloads:
            for mode in modes:
                key = (pair, workload, mode)
                if key in ours and key in theirs:
                    rows.append(
                        OverheadRow(
                            pair=pair,
                            workload=workload,
                            mode=mode,
                            device=device,
                            size=size,
                            pairbench_s=float(np.median(ours[key])),
                            hand_s=float(np.median(theirs[key])),
                            pairbench_rounds=tuple(ours[key]),
                            hand_rounds=tuple(theirs[key]),
                        )
                    )
    return rows


def summary(rows: list[OverheadRow]) -> str:
    """``Geometric-mean ratio 1.004; range 0.981–1.022; 34/36 within [0.97, 1.03].``"""
    ratios = np.asarray([r.ratio for r in rows])
    if not ratios.size:
        return "no rows"
    low, high = TARGET
    inside = int(((ratios >= low) & (ratios <= high)).sum())
    return (
        f"Geometric-mean ratio {float(np.exp(np.log(ratios).mean())):.3f}; range {ratios.min():.3f}–"
        f"{ratios.max():.3f}; {inside}/{ratios.size} within [{low}, {high}]."
    )


def to_markdown(rows: list[OverheadRow], machine: str) -> str:
    """A markdown table of the rows, with the machine line and the summary."""
    lines = [
        f"Machine: {machine}",
        "",
        "| pair | workload | mode | pairbench ms/step | hand loop ms/step | ratio | note |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.pair} | {r.workload} | {r.mode} | {r.pairbench_s * 1e3:.3f} | "
            f"{r.hand_s * 1e3:.3f} | {r.ratio:.3f} | {r.note} |"
        )
    lines += ["", summary(rows)]
    return "\n".join(lines)
