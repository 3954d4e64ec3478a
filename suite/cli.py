"""The ``pairbench`` command line: a thin dispatcher to ``suite.commands.<name>``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; it imports TensorFlow lazily so ``pairbench --help`` is instant.
Errors from bad input are one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from collections.abc import Sequence

from suite import __version__
from suite.errors import RunInterrupted, UsageError, stop_on_signals

#: subcommand -> module under suite.commands
COMMANDS: dict[str, str] = {
    "list": "list_pairs",
    "run": "run",
    "report": "report",
    "compare": "compare",
    "explain": "explain",
    "trace": "trace",
    "doctor": "doctor",
    "nightly": "nightly",
    "overhead": "overhead",
    "merge": "merge",
    "fleet": "fleet",
    "asv-offline": "asv_offline",
}

PROG = "pairbench"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print ``pairbench: error: ...`` on one line and exit 2."""
        sys.stderr.write(f"{PROG}: error: {message}\n")
        raise SystemExit(2)


def _common() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--pairs-from",
        action="append",
        default=[],
        metavar="FILE.py",
        help="also load @register_pair classes from this file (repeatable)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every subcommand."""
    parser = _Parser(
        prog=PROG,
        description="Paired-model numerics and throughput benchmarks for TensorFlow.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--pairs-from",
        action="append",
        default=[],
        dest="global_pairs_from",
        metavar="FILE.py",
        help="load @register_pair classes from this file (repeatable; also accepted after COMMAND)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    common = _common()
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"suite.commands.{modname}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP, parents=[common])
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def _robust_streams() -> None:
    """Never crash on a character the terminal's encoding lacks (``PYTHONIOENCODING=ascii``)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning as ``pairbench: warning: ...`` on one line (no source line)."""
    from suite.text import clean_line

    text = " ".join(clean_line(message).split())
    (file or sys.stderr).write(f"{PROG}: warning: {text}\n")


def _error(message: object) -> None:
    """``pairbench: error: MESSAGE`` on one line of stderr (user text in it made safe to print)."""
    from suite.text import clean_line

    sys.stderr.write(f"{PROG}: error: {clean_line(message)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pairbench``; returns the exit code."""

    _robust_streams()
    restore_signals = stop_on_signals()  # SIGTERM / SIGHUP stop like Ctrl-C
    try:
        return _main(argv)
    finally:
        restore_signals()


def _main(argv: Sequence[str] | None) -> int:
    from suite.results.atomic import ResultsWriteError
    from suite.results.run_dir import CorruptLineWarning, IncompleteLineWarning

    parser = build_parser()
    args = parser.parse_args(argv)
    args.pairs_from = [*args.global_pairs_from, *args.pairs_from]
    with warnings.catch_warnings():
        # a damaged record is bad input: name the line and stop; a line still being written
        # (a run in progress) is only a warning
        warnings.simplefilter("error", CorruptLineWarning)
        warnings.simplefilter("always", IncompleteLineWarning)
        warnings.showwarning = _one_line_warning
        try:
            if args.pairs_from:
                from suite.machine.tf_noise import quiet_native_stderr
                from suite.zoo import load_pairs_from

                with quiet_native_stderr():  # pair files import TensorFlow
                    for path in args.pairs_from:
                        load_pairs_from(path)
            return int(args._module.run(args) or 0)
        except UsageError as exc:
            _error(exc)
            return exc.exit_code
        except CorruptLineWarning as exc:
            _error(
                f"{exc}; move the line aside, or run `pairbench run --resume RUN` "
                "to quarantine it and run its case again"
            )
            return 2
        except ResultsWriteError as exc:
            _error(exc)
            return 1
        except KeyboardInterrupt:
            sys.stderr.write(f"{PROG}: interrupted\n")
            return 130
        except RunInterrupted as exc:
            sys.stderr.write(f"{PROG}: interrupted ({exc})\n")
            return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
