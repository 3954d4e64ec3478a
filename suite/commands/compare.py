"""``pairbench compare``: two runs case by case, with regressions as an exit code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from suite.commands.common import add_results_dir
from suite.results.runs import open_run
from suite.text import clean_line

HELP = "compare two runs: speed ratios, divergence changes; --fail-on gives exit code 1 on regressions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pairbench compare``."""
    parser.add_argument("run_a", help="baseline run id, path, or 'latest'")
    parser.add_argument("run_b", help="new run id, path, or 'latest'")
    add_results_dir(parser, "folder holding the runs")
    parser.add_argument(
        "--fail-on",
        metavar="RULES",
        help="exit 1 when a regression passes a threshold: comma list of speed:<ratio>, "
        "divergence:any, divergence:verdict, divergence:ulp:<factor> (e.g. speed:1.10,divergence:any)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="compare even if the GPUs, the driver or the timing settings (threads, CPU, clocks) differ",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON instead of a table")
    parser.add_argument("--all", action="store_true", help="also show cases without a significant change")


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3g}"


def _significance(delta: Any) -> str:
    """``yes (p=0.0079, 99% CI 1.45–1.55x)``, ``no (...)`` or ``untested (3 repeats)``."""
    speed = delta.speed
    if speed is None:
        return "—"
    if speed.why_untested:
        return f"untested ({min(speed.n_a, speed.n_b)} repeats)" if speed.ratio is not None else "—"
    text = f"{'yes' if speed.significant else 'no'} ({speed.text})"
    return text + (" (unstable)" if delta.unstable else "")


def _print_table(comp: Any, show_all: bool, threshold: float | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    if comp.machine_differences:
        console.print(f"[yellow]warning: compared with --force: {'; '.join(comp.machine_differences)}[/]")
    table = Table(title=f"pairbench compare {comp.run_a} -> {comp.run_b}", title_justify="left")
    for name, justify in (
        ("case", "left"),
        ("verdict a -> b", "left"),
        ("step ms a", "right"),
        ("step ms b", "right"),
        ("b vs a", "right"),
        ("significant", "left"),
        ("divergence changes", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "divergence changes")
    hidden = 0
    for c in comp.cases:
        if not (show_all or c.notable):
            hidden += 1
            continue
        verdict = c.verdict_a if c.verdict_a == c.verdict_b else f"{c.verdict_a} -> {c.verdict_b}"
        sig = _significance(c)
        style = "red" if c.changes or (c.significant and (c.ratio or 0) > 1) else None
        if c.significant and (c.ratio or 0) < 1 and not c.changes:
            style = "green"
        table.add_row(
            Text(clean_line(c.case_id)),
            Text(clean_line(verdict)),
            _ms(c.median_a_s),
            _ms(c.median_b_s),
            c.speed_text,
            sig,
            Text(clean_line("; ".join(ch.text for ch in c.changes) or "—")),
            style=style,
        )
    geo = comp.geomean_ratio
    n_timed = sum(c.ratio is not None for c in comp.cases)
    if geo is not None:
        text = "same" if geo == 1 else (f"{geo:.3f}x slower" if geo > 1 else f"{1 / geo:.3f}x faster")
        table.add_section()
        table.add_row(f"geometric mean ({n_timed} cases)", "", "", "", text, "", "", style="bold")
    console.print(table)
    if hidden:
        console.print(f"{hidden} case(s) without a significant change hidden; --all shows them")
    if comp.speed_untested:
        console.print(f"[yellow]{comp.speed_untested}[/]", highlight=False)
    noise = comp.noise.text(threshold) if threshold is not None else ""
    if noise:
        console.print(f"[yellow]{noise}[/]", highlight=False)
    for cid in comp.only_a:
        console.print(clean_line(f"only in {comp.run_a}: {cid}"), highlight=False, markup=False)
    for cid in comp.only_b:
        console.print(clean_line(f"only in {comp.run_b}: {cid}"), highlight=False, markup=False)


def run(args: argparse.Namespace) -> int:
    """Compare run b against run a.

    Returns:
        1 when ``--fail-on`` is given and a regression passes it, or the runs have no case in
        common; 0 otherwise.

    Raises:
        UsageError: unknown run, malformed ``--fail-on``, different GPUs/driver or timing settings
            without ``--force``, no case in common (without ``--fail-on``).
    """
    from suite.compare.fail_on import parse_fail_on
    from suite.compare.runs import compare_runs
    from suite.errors import UsageError
    from suite.results.validation import warn_foreign_records

    rule = parse_fail_on(args.fail_on) if args.fail_on is not None else None
    a = open_run(args.run_a, args.results_dir)
    b = open_run(args.run_b, args.results_dir)
    comp = compare_runs(a, b, force=args.force)
    both = {c.case_id for c in comp.cases}
    warn_foreign_records(a, both | set(comp.only_a))
    warn_foreign_records(b, both | set(comp.only_b))
    if not comp.cases:  # a gate that compared nothing must not pass
        message = (
            f"runs {comp.run_a} and {comp.run_b} have no case in common ({len(comp.only_a)} and "
            f"{len(comp.only_b)} cases): nothing was compared"
        )
        if rule is None:
            raise UsageError(message)
        sys.stderr.write(f"pairbench: error: {clean_line(message)} (--fail-on fails)\n")
        return 1
    failures = comp.failures(rule)
    if args.json:
        data = comp.to_dict()
        data["fail_on"] = args.fail_on
        data["failures"] = failures
        if rule is not None and rule.speed is not None:
            data["speed_noise"]["note"] = comp.noise.text(rule.speed)
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        _print_table(comp, args.all, rule.speed if rule is not None else None)
    for line in failures:
        sys.stderr.write(f"regression: {clean_line(line)}\n")
    return 1 if failures else 0
