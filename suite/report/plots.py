"""Report plots (matplotlib, Agg, no pyplot state): throughput, divergence vs throughput, rerun spread.

Each ``*_figure`` function takes a report frame and returns a matplotlib ``Figure``,
or a string saying why there is nothing to draw (empty run, all values missing):
:func:`write_plots` turns those into notes instead of failing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from suite.axes import MODES
from suite.report.table import AXES, REFERENCES

#: colours per reference of the divergence plot
REF_COLOURS = {"vs_pair": "#1f77b4", "vs_eager": "#ff7f0e", "vs_cpu": "#2ca02c", "vs_fp64": "#9467bd"}
MODE_COLOURS = {"eager": "#4c72b0", "function": "#55a868", "xla": "#c44e52"}
PROBLEM_COLOUR = "#d62728"
MAX_RERUN_ROWS = 40


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def case_labels(frame: Any) -> list[str]:
    """Short labels: the axes that vary across ``frame``, joined by dots (case id if none vary)."""
    varying = [a for a in AXES if frame[a].nunique() > 1]
    if not varying:
        return [str(c) for c in frame["case_id"]]
    return [".".join(str(v) for v in row) for row in frame[varying].itertuples(index=False)]


def throughput_figure(frame: Any) -> Any:
    """Grouped bars: median samples/s per mode, one group per (pair, device), one panel per workload.

    Individual cases (members, precisions...) are drawn as dots over their bar.

    Returns:
        A ``Figure``, or a reason string when no case has a throughput.
    """
    data = frame[frame["samples_per_s"].notna()]
    if data.empty:
        return "no case has a throughput (samples/s)"
    workloads = sorted(data["workload"].unique())
    modes = [m for m in MODES if m in set(data["mode"])] + sorted(set(data["mode"]) - set(MODES))
    n_groups = max(data.groupby(["pair", "device"]).ngroups, 1)
    fig = _figure(max(6.0, 1.1 * n_groups * len(modes) / 2 + 3), 3.2 * len(workloads) + 0.6)
    axes = fig.subplots(len(workloads), 1, squeeze=False)[:, 0]
    width = 0.8 / len(modes)
    for ax, workload in zip(axes, workloads, strict=True):
        sub = data[data["workload"] == workload]
        keys = sorted({(p, d) for p, d in zip(sub["pair"], sub["device"], strict=True)})
        for j, mode in enumerate(modes):
            xs, heights = [], []
            for i, (pair, device) in enumerate(keys):
                vals = sub[(sub["pair"] == pair) & (sub["device"] == device) & (sub["mode"] == mode)]
                vals = vals["samples_per_s"]
                if vals.empty:
                    continue
                x = i + (j - (len(modes) - 1) / 2) * width
                xs.append(x)
                heights.append(float(vals.median()))
                ax.scatter([x] * len(vals), vals, s=8, color="black", zorder=3)
            if xs:
                ax.bar(xs, heights, width=width * 0.95, label=mode, color=MODE_COLOURS.get(mode))
        ax.set_xticks(range(len(keys)), [f"{p}\n{d}" for p, d in keys])
        ax.set_xlim(-0.5, len(keys) - 0.5)
        ax.set_ylabel("samples/s (median)")
        ax.set_title(f"Throughput by mode — {workload}")
        positive = sub["samples_per_s"][sub["samples_per_s"] > 0]
        if len(positive) and positive.max() / positive.min() > 30:
            ax.set_yscale("log")
        ax.legend(title="mode", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Throughput (bars: median over members/precision/size; dots: cases)", fontsize="medium")
    return fig


def _floor(values: Any) -> float:
    positive = [v for v in values if v > 0]
    return (min(positive) / 10.0) if positive else 1e-12


def divergence_figure(frame: Any) -> Any:
    """Scatter of max abs divergence (log) against samples/s: fast-but-different cases stand out.

    One point per (case, reference); exact zeros (bitwise equal) are clipped to a floor
    below the smallest non-zero value and drawn hollow; nondeterministic cases are ringed;
    diverged and nondeterministic cases are labelled (at most 5).

    Returns:
        A ``Figure``, or a reason string when no case has both numbers.
    """
    points = []
    labels = case_labels(frame)
    rows = [row for _, row in frame.iterrows()]
    for ref in REFERENCES:
        for row, label in zip(rows, labels, strict=True):
            x, y = row["samples_per_s"], row[f"{ref}_max_abs"]
            if not (_missing(x) or _missing(y)):
                points.append((ref, float(x), float(y), row, label))
    if not points:
        return "no case has both a throughput and a divergence"
    floor = _floor([p[2] for p in points])
    fig = _figure(8.5, 5.5)
    ax = fig.subplots()
    for ref in REFERENCES:
        mine = [p for p in points if p[0] == ref]
        if not mine:
            continue
        nonzero = [p for p in mine if p[2] > 0]
        zero = [p for p in mine if p[2] <= 0]
        colour = REF_COLOURS.get(ref)
        ax.scatter([p[1] for p in nonzero], [p[2] for p in nonzero], color=colour, label=ref, s=28)
        if zero:
            ax.scatter(
                [p[1] for p in zero], [floor] * len(zero), facecolors="none", edgecolors=colour, s=28,
                label=f"{ref} = 0 (clipped)",
            )  # fmt: skip
    nondet = [p for p in points if p[3]["verdict"] == "nondeterministic"]
    if nondet:
        ax.scatter(
            [p[1] for p in nondet], [max(p[2], floor) for p in nondet], s=150, facecolors="none",
            edgecolors=PROBLEM_COLOUR, linewidths=1.5, label="nondeterministic case",
        )  # fmt: skip
    xs = [p[1] for p in points if p[1] > 0]
    middle = sorted(xs)[len(xs) // 2] if xs else 0.0
    annotated: set[str] = set()
    for p in sorted(points, key=lambda p: -p[2]):
        if len(annotated) >= 5:
            break
        if p[4] in annotated or p[3]["verdict"] not in ("diverged", "nondeterministic"):
            continue
        annotated.add(p[4])
        right = p[1] > middle
        ax.annotate(
            p[4], (p[1], max(p[2], floor)), fontsize=7, textcoords="offset points",
            xytext=(-6 if right else 6, 4), ha="right" if right else "left",
        )  # fmt: skip
    ax.axhline(floor, color="grey", linestyle=":", linewidth=1)
    ax.text(0.01, floor, " 0 = bitwise equal (clipped)", transform=ax.get_yaxis_transform(), fontsize=7,
            va="bottom", color="grey")  # fmt: skip
    ax.set_yscale("log")
    if xs and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    ax.set_xlabel("throughput, samples/s")
    ax.set_ylabel("max abs difference vs reference")
    ax.set_title("Divergence vs throughput (top right: fast but different)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return fig


def rerun_figure(frame: Any) -> Any:
    """Lollipops of the rerun spread (max abs between reruns of the same case), log scale.

    Zero spread (bitwise stable) is clipped to a floor and drawn hollow; cases with more
    than one distinct result are red. At most :data:`MAX_RERUN_ROWS` cases, largest first.

    Returns:
        A ``Figure``, or a reason string when no case was rerun.
    """
    labels = case_labels(frame)
    data = frame.assign(_label=labels)
    data = data[data["rerun_max_abs"].notna()]
    if data.empty:
        return "no case has a rerun spread"
    total = len(data)
    data = data.sort_values(["rerun_max_abs", "case_id"], ascending=[False, True]).head(MAX_RERUN_ROWS)
    values = [float(v) for v in data["rerun_max_abs"]]
    floor = _floor(values)
    fig = _figure(8.5, 1.4 + 0.26 * len(data))
    ax = fig.subplots()
    for y, (value, distinct) in enumerate(zip(values, data["rerun_distinct"], strict=True)):
        unstable = not _missing(distinct) and int(distinct) > 1
        colour = PROBLEM_COLOUR if unstable else "#4c72b0"
        x = value if value > 0 else floor
        ax.hlines(y, floor, x, color=colour, linewidth=2)
        ax.scatter([x], [y], color=colour if value > 0 else "none", edgecolors=colour, s=30, zorder=3)
    ax.set_yticks(range(len(data)), list(data["_label"]), fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, max(max(values), floor) * 5)
    ax.set_xlabel("max abs difference between reruns (hollow = 0, bitwise stable; clipped)")
    shown = f"{len(data)} of {total} cases" if total > len(data) else f"{total} cases"
    ax.set_title(f"Rerun spread per case ({shown}; red: >1 distinct result)", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _missing(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return True


#: plot name -> figure function
PLOTS = {
    "throughput": throughput_figure,
    "divergence_vs_throughput": divergence_figure,
    "rerun_spread": rerun_figure,
}


def write_plots(frame: Any, out_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """Draw every plot of :data:`PLOTS` into ``out_dir/<name>.png``.

    Args:
        frame: a report frame.
        out_dir: where the PNGs go (created).

    Returns:
        ``({name: png path}, notes)``; a plot with nothing to draw is left out and
        explained by a note ("rerun_spread: skipped, no case has a rerun spread").
    """
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    notes: list[str] = []
    frame = frame.reset_index(drop=True)
    for name, make in PLOTS.items():
        fig = make(frame)
        if isinstance(fig, str):
            notes.append(f"{name}: skipped, {fig}")
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{name}.png"
        fig.savefig(path, format="png")
        paths[name] = path
    return paths, notes
