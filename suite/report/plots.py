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
from suite.results.atomic import atomic_write
from suite.verdicts import DIFFERING, NONDETERMINISTIC

#: colours per reference of the divergence plot
REF_COLOURS = {"vs_pair": "#1f77b4", "vs_eager": "#ff7f0e", "vs_cpu": "#2ca02c", "vs_fp64": "#9467bd"}
MODE_COLOURS = {"eager": "#4c72b0", "function": "#55a868", "xla": "#c44e52"}
PROBLEM_COLOUR = "#d62728"
MAX_RERUN_ROWS = 40
#: (pair, device) groups per throughput panel at most
MAX_GROUPS = 24
#: widest figure, inches (100 dpi: 1,600 px)
MAX_WIDTH_IN = 16.0
#: individual cases drawn as dots on the throughput plot at most
MAX_DOTS = 2000
#: points of the divergence scatter at most (problem cases are always drawn)
MAX_POINTS = 20000
#: labelled points of the divergence scatter at most
MAX_LABELS = 6


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

    Individual cases (members, precisions...) are drawn as dots over their bar. The figure's
    size is bounded whatever the run: at most :data:`MAX_GROUPS` (pair, device) groups per
    panel (the slowest by median throughput, said in the title) and at most
    :data:`MAX_DOTS` dots.

    Returns:
        A ``Figure``, or a reason string when no case has a throughput.
    """
    data = frame[frame["samples_per_s"].notna()]
    if data.empty:
        return "no case has a throughput (samples/s)"
    data = data.assign(**{c: data[c].to_numpy(dtype=object) for c in ("pair", "device", "mode", "workload")})
    workloads = sorted(data["workload"].unique())
    modes = [m for m in MODES if m in set(data["mode"])] + sorted(set(data["mode"]) - set(MODES))
    per_panel = data.groupby(["workload", "pair", "device"], observed=True)["samples_per_s"].median()
    n_groups = min(MAX_GROUPS, int(per_panel.groupby(level=0).size().max()))
    fig = _figure(min(MAX_WIDTH_IN, max(6.0, 0.55 * n_groups * len(modes) + 2.5)), 3.3 * len(workloads) + 0.6)
    axes = fig.subplots(len(workloads), 1, squeeze=False)[:, 0]
    width = 0.8 / len(modes)
    dots_left = MAX_DOTS
    for ax, workload in zip(axes, workloads, strict=True):
        sub = data[data["workload"] == workload]
        medians = per_panel.loc[workload]
        keys = sorted(medians.index)
        shown = f"{len(keys)} (pair, device) groups"
        if len(keys) > MAX_GROUPS:
            keys = sorted(medians.nsmallest(MAX_GROUPS).index)
            shown = f"the {MAX_GROUPS} slowest of {len(medians)} (pair, device) groups"
        sub = sub[pd_isin_pairs(sub, keys)]
        bars = sub.groupby(["pair", "device", "mode"], observed=True)["samples_per_s"].median()
        position = {k: i for i, k in enumerate(keys)}
        for j, mode in enumerate(modes):
            offset = (j - (len(modes) - 1) / 2) * width
            mine = [(position[(p, d)] + offset, v) for (p, d, m), v in bars.items() if m == mode]
            if mine:
                ax.bar([x for x, _ in mine], [v for _, v in mine], width=width * 0.95, label=mode,
                       color=MODE_COLOURS.get(mode))  # fmt: skip
            if dots_left > 0:
                dots = sub[sub["mode"] == mode].head(dots_left)
                xs = [position[(p, d)] + offset for p, d in zip(dots["pair"], dots["device"], strict=True)]
                ax.scatter(xs, dots["samples_per_s"], s=8, color="black", zorder=3)
                dots_left -= len(dots)
        ax.set_xticks(range(len(keys)), [f"{p}\n{d}" for p, d in keys], fontsize=8 if len(keys) > 12 else 10)
        if len(keys) > 12:
            ax.tick_params(axis="x", labelrotation=60)
        ax.set_xlim(-0.5, len(keys) - 0.5)
        ax.set_ylabel("samples/s (median)")
        ax.set_title(f"Throughput by mode — {workload} ({shown})", fontsize="medium")
        positive = sub["samples_per_s"][sub["samples_per_s"] > 0]
        if len(positive) and positive.max() / positive.min() > 30:
            ax.set_yscale("log")
        ax.legend(title="mode", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    dots_note = "dots: cases" if dots_left > 0 else f"dots: the first {MAX_DOTS} cases"
    fig.suptitle(f"Throughput (bars: median over members/precision/size; {dots_note})", fontsize="medium")
    return fig


def pd_isin_pairs(frame: Any, keys: list[tuple[str, str]]) -> Any:
    """Boolean mask: the row's (pair, device) is one of ``keys``."""
    import pandas as pd

    return pd.MultiIndex.from_arrays([frame["pair"], frame["device"]]).isin(keys)


def _floor(values: Any) -> float:
    positive = [v for v in values if v > 0]
    return (min(positive) / 10.0) if positive else 1e-12


def divergence_figure(frame: Any) -> Any:
    """Scatter of max abs divergence (log) against samples/s: fast-but-different cases stand out.

    One point per (case, reference); exact zeros (bitwise equal) are clipped to a floor
    below the smallest non-zero value and drawn hollow; nondeterministic cases are ringed.
    Diverged and nondeterministic cases get a number next to their point (at most
    :data:`MAX_LABELS`), and the numbers are listed under the axes: long case names never
    overlap each other or the points. Past :data:`MAX_POINTS` points, a seeded sample of the
    unremarkable ones is drawn (said in the title).

    Returns:
        A ``Figure``, or a reason string when no case has both numbers, or when every
        compared output is bitwise equal (nothing to show).
    """
    import numpy as np
    import pandas as pd

    refs = [f"{ref}_max_abs" for ref in REFERENCES]
    timed = frame[frame["samples_per_s"].notna() & frame[refs].notna().any(axis=1)]
    if timed.empty:
        return "no case has both a throughput and a divergence"
    if not (timed[refs] > 0).any().any():
        return "every compared output is bitwise equal to its reference (nothing to plot)"
    verdicts = timed["verdict"].astype(str)
    remarkable = verdicts.isin(DIFFERING).to_numpy()
    sampled = ""
    rows_per_case = max(1, int(timed[refs].notna().sum(axis=1).mean()))
    room = max(0, MAX_POINTS // rows_per_case - int(remarkable.sum()))
    if len(timed) - remarkable.sum() > room:  # a seeded sample of the unremarkable cases
        others = np.flatnonzero(~remarkable)
        keep = np.zeros(len(timed), dtype=bool)
        keep[np.random.default_rng(0).choice(others, size=room, replace=False)] = True
        keep |= remarkable
        sampled = f"; {int(keep.sum()):,} of {len(timed):,} cases drawn"
        timed, verdicts = timed[keep], verdicts[keep]
    parts = []
    for ref in REFERENCES:
        has = timed[f"{ref}_max_abs"].notna().to_numpy()
        if has.any():
            columns = {
                "ref": ref,
                "x": timed["samples_per_s"].to_numpy(float)[has],
                "y": timed[f"{ref}_max_abs"].to_numpy(float)[has],
                "verdict": verdicts.to_numpy(dtype=object)[has],
                "row": timed.index[has],
            }
            parts.append(pd.DataFrame(columns))
    points = pd.concat(parts, ignore_index=True)
    remarkable = points["verdict"].isin(DIFFERING)
    floor = _floor(points["y"].tolist())
    fig = _figure(8.5, 6.2)
    ax = fig.subplots()
    for ref in REFERENCES:
        mine = points[points["ref"] == ref]
        if mine.empty:
            continue
        colour = REF_COLOURS.get(ref)
        nonzero, zero = mine[mine["y"] > 0], mine[mine["y"] <= 0]
        ax.scatter(nonzero["x"], nonzero["y"], color=colour, label=ref, s=28)
        if len(zero):
            ax.scatter(zero["x"], [floor] * len(zero), facecolors="none", edgecolors=colour, s=28,
                       label=f"{ref} = 0 (clipped)")  # fmt: skip
    nondet = points[points["verdict"] == NONDETERMINISTIC]
    if len(nondet):
        ax.scatter(nondet["x"], np.maximum(nondet["y"], floor), s=150, facecolors="none",
                   edgecolors=PROBLEM_COLOUR, linewidths=1.5, label="nondeterministic case")  # fmt: skip
    numbered: dict[int, int] = {}
    for p in points[remarkable].sort_values("y", ascending=False).itertuples(index=False):
        if p.row not in numbered and len(numbered) < MAX_LABELS:  # at the case's largest difference
            numbered[p.row] = len(numbered) + 1
            ax.annotate(str(numbered[p.row]), (p.x, max(p.y, floor)), fontsize=8, fontweight="bold",
                        textcoords="offset points", xytext=(5, 4), color=PROBLEM_COLOUR)  # fmt: skip
    ax.axhline(floor, color="grey", linestyle=":", linewidth=1)
    ax.text(0.01, floor, " 0 = bitwise equal (clipped)", transform=ax.get_yaxis_transform(), fontsize=7,
            va="bottom", color="grey")  # fmt: skip
    ax.set_yscale("log")
    xs = points["x"][points["x"] > 0]
    if len(xs) and xs.max() / xs.min() > 10:
        ax.set_xscale("log")
    ax.set_xlabel("throughput, samples/s")
    ax.set_ylabel("max abs difference vs reference")
    ax.set_title(f"Divergence vs throughput (top right: fast but different{sampled})", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    if numbered:
        key = "\n".join(
            f"{n}: {frame.loc[row, 'case_id']} ({frame.loc[row, 'verdict']})" for row, n in numbered.items()
        )
        fig.text(0.01, 0.0, key, fontsize=7, va="bottom", ha="left", family="monospace")
        fig.get_layout_engine().set(
            rect=(0, 0.03 + 0.028 * len(numbered), 1, 1 - 0.03 - 0.028 * len(numbered))
        )
    return fig


def rerun_figure(frame: Any) -> Any:
    """Lollipops of the rerun spread (max abs between reruns of the same case), log scale.

    Drawn only when some case is not bitwise stable across reruns: when every rerun gave one
    distinct result with zero spread, the plot would be points on the floor, so it is
    skipped with that note. Zero spread is clipped to a floor and drawn hollow; cases with
    more than one distinct result are red. At most :data:`MAX_RERUN_ROWS` cases, largest first.

    Returns:
        A ``Figure``, or a reason string when no case was rerun or every case is bitwise stable.
    """
    data = frame[frame["rerun_max_abs"].notna()]
    if data.empty:
        return "no case has a rerun spread"
    unstable = (data["rerun_max_abs"] > 0) | (data["rerun_distinct"].fillna(1) > 1)
    if not unstable.any():
        return f"every rerun of all {len(data):,} rerun cases was bitwise identical (nothing to plot)"
    total = len(data)
    data = data.nlargest(MAX_RERUN_ROWS, "rerun_max_abs", keep="all").head(4 * MAX_RERUN_ROWS)
    data = data.sort_values(["rerun_max_abs", "case_id"], ascending=[False, True]).head(MAX_RERUN_ROWS)
    labels = case_labels(data)
    values = [float(v) for v in data["rerun_max_abs"]]
    floor = _floor(values)
    fig = _figure(8.5, 1.4 + 0.26 * len(data))
    ax = fig.subplots()
    for y, (value, distinct) in enumerate(zip(values, data["rerun_distinct"], strict=True)):
        unstable_case = not _missing(distinct) and int(distinct) > 1
        colour = PROBLEM_COLOUR if unstable_case else "#4c72b0"
        x = value if value > 0 else floor
        ax.hlines(y, floor, x, color=colour, linewidth=2)
        ax.scatter([x], [y], color=colour if value > 0 else "none", edgecolors=colour, s=30, zorder=3)
    ax.set_yticks(range(len(data)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, max(max(values), floor) * 5)
    ax.set_xlabel("max abs difference between reruns (hollow = 0, bitwise stable; clipped)")
    shown = f"{len(data)} of {total:,} cases" if total > len(data) else f"{total} cases"
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

    Raises:
        ResultsWriteError: ``out_dir`` cannot be written (read-only, disk full): one line.
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
        path = out_dir / f"{name}.png"
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png"))  # creates out_dir
        paths[name] = path
    return paths, notes
