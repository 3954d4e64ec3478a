"""The one sanitiser for text that came from user code or files.

Text pairbench did not write itself (an exception message from a user's model, a layer or pair
name, a line of a worker's log, a field of ``records.jsonl`` or ``run.json``) may hold terminal
escape sequences (``ESC]0;title BEL`` retitles the terminal, ``ESC[2J`` clears it), other control
characters, or text a spreadsheet runs as a formula. Every such text passes through here where
it enters pairbench (reasons, names) and again at every output edge (progress line, terminal
table, Markdown, HTML, CSV, error lines, printed commands):

- :func:`clean_line` / :func:`clean_text`: escape sequences (CSI, OSC, DCS...) removed whole,
  other C0 and C1 control characters and bidirectional overrides dropped; newlines and tabs
  become spaces in a line and stay in a text;
- :func:`csv_cell`: a cell a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``,
  tab, CR first) is prefixed with ``'`` (OWASP's advice for CSV exports);
- :func:`shell_quote` / :func:`command`: paths and arguments in a command printed for the user
  to copy are quoted for a POSIX shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from os import PathLike
from typing import Any

#: an escape sequence, removed whole: OSC/DCS/SOS/PM/APC strings (up to BEL or ST, or the end),
#: CSI sequences (``ESC[`` parameters, intermediates, a final byte), then any other ``ESC x``;
#: the 8-bit forms (C1 ``\x9b`` CSI, ``\x9d`` OSC...) too
_ESCAPE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?"
)
#: control characters left after the sequences: C0 but tab and newline, DEL, C1, and Unicode's
#: bidirectional overrides and isolates (they reorder what a terminal or browser shows)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: anything :func:`clean_line` would change (a fast test before the regular expressions)
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: first characters that make a spreadsheet read a cell as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean_text(text: object) -> str:
    """``text`` as a string without escape sequences or control characters; newlines and tabs kept.

    Carriage returns become newlines (a ``\\r`` would let a line overwrite itself on a terminal).
    """
    value = text if isinstance(text, str) else str(text)
    if not UNSAFE.search(value):
        return value
    value = _ESCAPE.sub("", value.replace("\r\n", "\n"))
    return _CONTROL.sub("", value.replace("\r", "\n"))


def clean_line(text: object) -> str:
    """``text`` as one line: :func:`clean_text`, then newlines and tabs become single spaces."""
    value = text if isinstance(text, str) else str(text)
    if not UNSAFE.search(value):
        return value
    return clean_text(value).replace("\t", " ").replace("\n", " ")


def clean_data(value: Any) -> Any:
    """``value`` with every string in it (dict keys and values, list items) made :func:`clean_line`."""
    if isinstance(value, str):
        return clean_line(value)
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(clean_data(v) for v in value)
    return value


def csv_cell(value: str) -> str:
    """A text cell of a CSV file, neutralised against formula injection.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'``, which spreadsheets show as text and never evaluate. Only text cells go through here:
    a negative number in a numeric column stays a number.
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def shell_quote(arg: str | PathLike[str]) -> str:
    """One argument of a printed shell command, quoted if it needs it (``shlex.quote``)."""
    return shlex.quote(clean_line(str(arg)))


def command(*args: str | PathLike[str] | Iterable[str | PathLike[str]]) -> str:
    """A command line for the user to copy: every argument quoted for a POSIX shell.

    Args:
        args: words, paths, or iterables of them (flattened in order).

    Returns:
        e.g. ``pairbench run --resume r --results-dir '/tmp/my results;x'``.
    """
    words: list[str] = []
    for arg in args:
        if isinstance(arg, str | PathLike):
            words.append(shell_quote(arg))
        else:
            words.extend(shell_quote(a) for a in arg)
    return " ".join(words)
