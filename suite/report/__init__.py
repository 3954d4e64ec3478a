"""Reports of one run: terminal table, ``report.md``, ``report.html``, ``table.csv``/``.parquet``, plots.

The runner calls :func:`write_report` at the end of ``pairbench run``; ``pairbench report``
calls it on an existing run. Everything is derived from the run folder (``records.jsonl``
and ``run.json``), so a report can be rebuilt at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suite.report.summary import Finding, Summary, problem_mask, summarize
from suite.report.table import (
    MISSING,
    arrange,
    as_float,
    parse_group_by,
    report_frame,
)
from suite.results.frame import run_frame, with_all_columns
from suite.results.run_dir import RunDir

__all__ = [
    "Finding",
    "Summary",
    "provenance_items",
    "report_frame",
    "summarize",
    "write_report",
]


# ------------------------------------------------------------------------ provenance


def _yes_no(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return MISSING if value is None else str(value)


def provenance_items(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The machine and software block of a report, from ``run.json``.

    Args:
        meta: the run's ``run.json`` (may be empty or partial).

    Returns:
        ``(label, value)`` pairs; missing values are "—".
    """
    prov = meta.get("provenance") or {}
    tf = prov.get("tensorflow") or {}
    build = tf.get("build") or {}

    def val(*values: Any) -> str:
        shown = [str(v) for v in values if v not in (None, "")]
        return " ".join(shown) if shown else MISSING

    gpus = prov.get("gpus") or []
    gpu_text = []
    for g in gpus:
        mem = as_float(g.get("memory_total_bytes"))
        extra = ", ".join(
            x
            for x in (
                f"{mem / 2**30:.0f} GiB" if mem else "",
                f"cc {g['compute_capability']}" if g.get("compute_capability") else "",
                str(g.get("pci_bus_id") or ""),
            )
            if x
        )
        gpu_text.append(f"{g.get('index', '?')}: {g.get('name', '?')}" + (f" ({extra})" if extra else ""))
    nvml = prov.get("nvml") or {}
    env = {k: v for k, v in (prov.get("env") or {}).items() if v not in (None, "")}
    commit = meta.get("git_commit")
    return [
        ("run", val(meta.get("run_id"), f"({meta['status']})" if meta.get("status") else None)),
        ("started / finished", f"{meta.get('started_at') or MISSING} / {meta.get('finished_at') or MISSING}"),
        ("command", " ".join(meta.get("argv") or []) or MISSING),
        (
            "pairbench",
            val(meta.get("pairbench_version") or prov.get("pairbench"), commit and f"({commit[:12]})"),
        ),
        ("TensorFlow", val(tf.get("version"), tf.get("git_version") and f"({tf.get('git_version')})")),
        (
            "TF build",
            "CUDA build: "
            + _yes_no(build.get("is_cuda_build"))
            + f", CUDA {build.get('cuda_version') or MISSING}, cuDNN {build.get('cudnn_version') or MISSING}",
        ),
        ("Keras", val(prov.get("keras"))),
        ("GPUs", "; ".join(gpu_text) or "none"),
        (
            "driver / CUDA runtime",
            f"{prov.get('driver_version') or MISSING} / {prov.get('cuda_runtime_version') or MISSING}",
        ),
        ("NVML", "available" if nvml.get("available") else val(nvml.get("reason"))),
        ("TF32", _yes_no(prov.get("tf32_enabled"))),
        ("op determinism", _yes_no(prov.get("determinism_enabled"))),
        ("numerics env", ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "none set"),
        ("CPU", val(prov.get("cpu_model"))),
        ("host", val(prov.get("hostname"), prov.get("platform") and f"({prov['platform']})")),
        ("Python", val(prov.get("python"))),
    ]


# ---------------------------------------------------------------------------- writer

#: files written by :func:`write_report`, relative to the run folder
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TABLE_CSV = "table.csv"
TABLE_PARQUET = "table.parquet"
PLOTS_DIR = "plots"
#: rows of the detailed results table in report.md / report.html at most (every problem row is kept)
MAX_TABLE_ROWS = 2000
#: rows of the results table on the terminal at most
MAX_TERMINAL_ROWS = 200


def write_tables(frame, csv_path: Path, parquet_path: Path) -> None:
    """``table.csv`` and ``table.parquet`` of the typed frame, through Arrow (a million rows in seconds).

    The CSV leaves missing values empty; the Parquet file reads back as the same typed frame.
    """
    import pyarrow as pa
    import pyarrow.csv as pc_csv

    frame.to_parquet(parquet_path, index=False, engine="pyarrow")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    plain = pa.table({name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
                      for name, col in zip(table.column_names, table.columns, strict=True)})  # fmt: skip
    pc_csv.write_csv(plain, csv_path)


def capped(frame, max_rows: int):
    """``frame`` (arranged) cut to ``max_rows`` rows, keeping every problem row; index reset.

    Returns:
        ``(rows, left_out)``: the rows to show, in the frame's order, and how many were left out.
    """
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True), 0
    problem = problem_mask(frame)
    others = ~problem
    room = max(0, max_rows - int(problem.sum()))
    keep = problem | (others & others.cumsum().le(room))
    rows = frame[keep].reset_index(drop=True)
    return rows, len(frame) - len(rows)


def write_report(
    run: RunDir,
    *,
    group_by: str | Sequence[str] | None = None,
    sort: str | None = None,
    plots: bool = True,
    console: Any = None,
) -> dict[str, Path]:
    """Write a run's report files into its folder, and print it when ``console`` is given.

    Args:
        run: the run folder.
        group_by: comma list or sequence of group keys (``pair``, ``device``, ``mode``...).
        sort: sort key (``case``, ``verdict``, ``step``, ``divergence``...).
        plots: write ``plots/*.png`` and embed them in the HTML.
        console: a ``rich.console.Console`` to print the table and summary on; None prints nothing.

    Returns:
        ``{relative path: absolute path}`` of every file written (``report.md``,
        ``report.html``, ``table.csv``, ``table.parquet``, ``plots/<name>.png``).

    Raises:
        UsageError: for an unknown group or sort key, or an unreadable ``run.json``.
    """
    from suite.report.html import render_html
    from suite.report.markdown import render_markdown
    from suite.results.compare_cache import CACHE, CompareColumns

    written: dict[str, Path] = {}
    groups = parse_group_by(group_by)
    compare_columns = CompareColumns(run)  # the same parse caches what `compare` reads
    typed = run_frame(run, compare_columns)
    if compare_columns.written:
        written[CACHE] = run.path / CACHE
    frame = arrange(with_all_columns(typed), group_by=groups, sort=sort)
    meta = run.read_meta()
    summary = summarize(frame)
    prov = provenance_items(meta)

    plot_paths: dict[str, Path] = {}
    notes: list[str] = []
    if plots:
        from suite.report.plots import write_plots

        plot_paths, notes = write_plots(frame, run.path / PLOTS_DIR)
        for path in plot_paths.values():
            written[f"{PLOTS_DIR}/{path.name}"] = path
    else:
        notes.append("plots not drawn (--no-plots)")

    csv_path, parquet_path = run.sub(TABLE_CSV), run.sub(TABLE_PARQUET)
    write_tables(typed, csv_path, parquet_path)
    written[TABLE_CSV], written[TABLE_PARQUET] = csv_path, parquet_path

    from suite.report.overview import overview

    view = overview(frame)
    shown, left_out = capped(frame, MAX_TABLE_ROWS)
    if left_out:
        notes.append(
            f"results table: {len(shown):,} of {len(frame):,} cases shown (every problem case); "
            "table.csv and table.parquet hold them all"
        )
    title = f"pairbench report — run {run.run_id}"
    common = {
        "title": title,
        "summary": summary,
        "provenance": prov,
        "group_by": groups,
        "notes": notes,
        "view": view,
    }
    md_path = run.sub(REPORT_MD)
    md_path.write_text(
        render_markdown(frame, plots=plot_paths, base=run.path, shown=shown, **common), encoding="utf-8"
    )
    html_path = run.sub(REPORT_HTML)
    html_path.write_text(render_html(frame, plots=plot_paths, shown=shown, **common), encoding="utf-8")
    written[REPORT_MD], written[REPORT_HTML] = md_path, html_path

    if console is not None:
        from suite.report.terminal import print_report

        print_report(
            console,
            frame,
            title=title,
            summary=summary,
            group_by=groups,
            shown=capped(frame, MAX_TERMINAL_ROWS),
        )
    return written
