"""Writing a report: the same four files (and plots) for one run or for a fleet of machines.

:func:`write_report` derives everything from a run folder (``records.jsonl`` and ``run.json``),
so a report can be rebuilt at any time; :func:`write_report_files` writes the rendered report
of any typed frame into a folder (``pairbench fleet`` uses it). Every file is written
atomically: a full disk or a read-only folder is one line (:class:`ResultsWriteError`), never a
half-written report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suite.report.provenance import provenance_items
from suite.report.summary import Summary, problem_mask, summarize
from suite.report.table import arrange, parse_group_by
from suite.results.atomic import atomic_write, text_writer
from suite.results.frame import run_frame, with_all_columns
from suite.results.names import PLOTS, REPORT_HTML, REPORT_MD, TABLE_CSV, TABLE_PARQUET
from suite.results.run_dir import RunDir

#: rows of the detailed results table in report.md / report.html at most (every problem row is kept)
MAX_TABLE_ROWS = 2000
#: rows of the results table on the terminal at most
MAX_TERMINAL_ROWS = 200


def write_tables(frame, csv_path: Path, parquet_path: Path) -> None:
    """``table.csv`` and ``table.parquet`` of the typed frame, through Arrow (a million rows in seconds).

    The CSV leaves missing values empty, and its text cells are neutralised against formula
    injection (:func:`csv_safe`); the Parquet file reads back as the same typed frame.
    """
    import pyarrow as pa
    import pyarrow.csv as pc_csv

    atomic_write(parquet_path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    plain = pa.table({name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
                      for name, col in zip(table.column_names, table.columns, strict=True)})  # fmt: skip
    atomic_write(csv_path, lambda tmp: pc_csv.write_csv(csv_safe(plain), tmp))


#: the first characters :func:`suite.text.csv_cell` neutralises, for Arrow's regular expressions
_FORMULA_RE2 = r"^[=+\-@\t\r]"


def csv_safe(table: Any) -> Any:
    """``table`` with every text cell a spreadsheet would run as a formula prefixed with ``'``.

    Only text columns change (see :func:`suite.text.csv_cell`): numbers, negative ones
    included, stay numbers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        risky = pc.match_substring_regex(column, _FORMULA_RE2)
        if table.num_rows and pc.any(risky).as_py():
            quote, nothing = pa.scalar("'", field.type), pa.scalar("", field.type)
            quoted = pc.binary_join_element_wise(quote, column, nothing)
            table = table.set_column(i, field, pc.if_else(risky, quoted, column))
    return table


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


def write_report_files(
    out: Path,
    frame: Any,
    *,
    title: str,
    summary: Summary,
    provenance: list[tuple[str, str]],
    group_by: list[str],
    notes: list[str],
    plot_paths: dict[str, Path] | None = None,
    typed: Any = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``table.csv`` and ``table.parquet`` into ``out``.

    Args:
        out: the folder (created if missing).
        frame: the arranged report frame (every column, rows in display order).
        title: the report's title.
        summary: :func:`~suite.report.summary.summarize` of ``frame``.
        provenance: the machine/software block (``(label, value)`` pairs).
        group_by: the group keys the tables are split by.
        notes: lines shown under the tables.
        plot_paths: plots already drawn, by name (embedded in the HTML, linked from Markdown).
        typed: the typed frame written to the tables (default: ``frame``).

    Returns:
        ``{file name: path}`` of the four files.

    Raises:
        ResultsWriteError: the folder cannot be written (one line naming the file and the cause).
    """
    from suite.report.html import render_html
    from suite.report.markdown import render_markdown
    from suite.report.overview import overview

    plot_paths = plot_paths or {}
    notes = list(notes)
    shown, left_out = capped(frame, MAX_TABLE_ROWS)
    if left_out:
        notes.append(
            f"results table: {len(shown):,} of {len(frame):,} cases shown (every problem case); "
            "table.csv and table.parquet hold them all"
        )
    common = {
        "title": title,
        "summary": summary,
        "provenance": provenance,
        "group_by": group_by,
        "notes": notes,
        "view": overview(frame),
    }
    written = {TABLE_CSV: out / TABLE_CSV, TABLE_PARQUET: out / TABLE_PARQUET}
    write_tables(frame if typed is None else typed, written[TABLE_CSV], written[TABLE_PARQUET])
    texts = {
        REPORT_MD: render_markdown(frame, plots=plot_paths, base=out, shown=shown, **common),
        REPORT_HTML: render_html(frame, plots=plot_paths, shown=shown, **common),
    }
    for name, text in texts.items():
        atomic_write(out / name, text_writer(text))
        written[name] = out / name
    return written


def write_report(
    run: RunDir,
    *,
    group_by: str | Sequence[str] | None = None,
    sort: str | None = None,
    plots: bool = True,
    console: Any = None,
    summary_only: bool = False,
) -> dict[str, Path]:
    """Write a run's report files into its folder, and print it when ``console`` is given.

    The terminal report is printed first, so a folder that cannot take the files (read-only,
    disk full) still shows it before the one-line error. Records of cases the plan does not
    hold are warned about (:class:`~suite.results.validation.ForeignRecordsWarning`); a run
    whose process is gone is shown as ``interrupted`` with the planned cases it lacks
    (:func:`~suite.results.status.run_state`); both are notes of the report too.

    Args:
        run: the run folder.
        group_by: comma list or sequence of group keys (``pair``, ``device``, ``mode``...).
        sort: sort key (``case``, ``verdict``, ``step``, ``divergence``...).
        plots: write ``plots/*.png`` and embed them in the HTML.
        console: a ``rich.console.Console`` to print the table and summary on; None prints nothing.
        summary_only: print only the headline, the highlight and the notes (``report --quiet``).

    Returns:
        ``{relative path: absolute path}`` of every file written (``report.md``,
        ``report.html``, ``table.csv``, ``table.parquet``, ``plots/<name>.png``).

    Raises:
        UsageError: for an unknown group or sort key, or an unreadable ``run.json``.
        ResultsWriteError: the run folder cannot be written.
    """
    from suite.results.compare_cache import CACHE, CompareColumns
    from suite.results.status import run_state
    from suite.results.validation import planned_cases, warn_foreign_records

    written: dict[str, Path] = {}
    groups = parse_group_by(group_by)
    meta = run.read_meta()
    compare_columns = CompareColumns(run)  # the same parse caches what `compare` reads
    typed = run_frame(run, compare_columns)
    if compare_columns.written:
        written[CACHE] = run.path / CACHE
    case_ids = set(typed["case_id"].astype(str))
    plan = planned_cases(run)
    notes = [note for note in (warn_foreign_records(run, case_ids, meta, plan),) if note]
    state = run_state(run, meta, case_ids, plan)
    if state.note:
        notes.insert(0, state.note)
    frame = arrange(with_all_columns(typed), group_by=groups, sort=sort)
    summary = summarize(frame)
    title = f"pairbench report — run {run.run_id}"
    if console is not None:
        _print(console, frame, title, summary, groups, notes, summary_only)

    plot_paths: dict[str, Path] = {}
    if plots:
        from suite.report.plots import write_plots

        plot_paths, plot_notes = write_plots(frame, run.path / PLOTS)
        notes += plot_notes
        for path in plot_paths.values():
            written[f"{PLOTS}/{path.name}"] = path
    else:
        notes.append("plots not drawn (--no-plots)")
    written.update(
        write_report_files(
            run.path,
            frame,
            title=title,
            summary=summary,
            provenance=provenance_items({**meta, "status": state.status} if state.status else meta),
            group_by=groups,
            notes=notes,
            plot_paths=plot_paths,
            typed=typed,
        )
    )
    return written


def _print(
    console: Any,
    frame: Any,
    title: str,
    summary: Summary,
    groups: list[str],
    notes: list[str],
    summary_only: bool,
) -> None:
    """The report on the terminal (see :func:`write_report`)."""
    from rich.text import Text

    if summary_only:
        console.print(Text(summary.headline))
        if summary.highlight:
            console.print(Text(summary.highlight))
    else:
        from suite.report.terminal import print_report

        print_report(
            console,
            frame,
            title=title,
            summary=summary,
            group_by=groups,
            shown=capped(frame, MAX_TERMINAL_ROWS),
        )
    for note in notes:
        console.print(Text(note, style="yellow"))
