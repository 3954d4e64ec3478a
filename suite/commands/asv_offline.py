"""``pairbench asv-offline [HTML_DIR]``: make a published asv site work without internet."""

from __future__ import annotations

import argparse
from pathlib import Path

from suite.results.names import DEFAULT_RESULTS_DIR, HTML_DIR

HELP = "serve a published asv site's scripts and styles from local copies (no CDN, works offline)"
DEFAULT_HTML = DEFAULT_RESULTS_DIR / HTML_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``HTML_DIR`` (asv's ``html_dir``, default ``results/html``)."""
    parser.add_argument(
        "html_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_HTML,
        help=f"the folder `asv publish` wrote (default: {DEFAULT_HTML})",
    )


def run(args: argparse.Namespace) -> int:
    """Rewrite the site's CDN tags to local copies and say what was replaced.

    Raises:
        UsageError: no published site there, or a CDN file pairbench has no local copy of.
    """
    from suite.asv.offline import VENDOR, make_offline

    replaced = make_offline(args.html_dir)
    if replaced:
        print(f"{args.html_dir}/index.html: {len(replaced)} CDN files now served from {VENDOR}/")
    else:
        print(f"{args.html_dir}/index.html already loads nothing from the internet")
    return 0
