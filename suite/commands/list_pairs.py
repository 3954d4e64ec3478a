"""``pairbench list``: the registered pairs, their members, sizes and parameter counts.

Parameter counts come from building each size's reference member inside
``keras.StatelessScope(initialize_variables=False)``: Keras creates the variables'
shapes without allocating or initialising them, so even the ``large`` sizes cost
milliseconds. A reference that only creates its variables when called (a subclassed
model) is counted by a real build at the ``tiny`` size only; other sizes show ``?``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from suite.axes import SIZES, check_names, parse_filter

HELP = "list the registered pairs: members, sizes, batch and parameter counts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--pairs``, ``--sizes``, ``--json``, ``--hparams``, ``--no-params``."""
    parser.add_argument("--pairs", metavar="P1,P2", help="only these pairs (comma-separated)")
    parser.add_argument("--sizes", metavar="S1,S2", help=f"only these sizes ({', '.join(SIZES)})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--hparams", action="store_true", help="also show every size's hyper-parameters")
    parser.add_argument(
        "--no-params", action="store_true", help="skip parameter counts (no TensorFlow import)"
    )


def _drop_pending(model: Any) -> None:
    """Forget the uninitialised variables a stateless build registered with Keras.

    Keras keeps them in a global list that the next ``StatelessScope`` exit would
    initialise (allocating the ``large`` weights); this is Keras' private state, there
    is no public API for it.
    """
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables") or []
    mine = {id(v) for v in getattr(model, "variables", [])}
    global_state.set_global_attribute("uninitialized_variables", [v for v in pending if id(v) not in mine])


def parameter_counts(pair: Any, size: str) -> dict[str, int] | None:
    """Parameter totals of a pair's reference member at one size, without allocating it.

    Args:
        pair: a :class:`suite.zoo.Pair` instance.
        size: the size preset.

    Returns:
        ``{"trainable", "non_trainable", "total"}`` or ``None`` when the reference has no
        variables before it is called and ``size`` is not ``tiny`` (or the pair's only size).
    """
    import keras

    from suite.zoo.weights import ensure_built, is_keras
    from suite.zoo.weights import parameter_counts as counts_of

    with keras.StatelessScope(initialize_variables=False):
        model = pair.build(pair.reference, size)
        built = bool(list(model.variables)) and (not is_keras(model) or model.built)
        counts = counts_of(model) if built else None
    _drop_pending(model)
    if counts is None and (size == "tiny" or len(pair.sizes) == 1):  # one size: the user's own batch
        model = pair.build(pair.reference, size)
        ensure_built(model, pair.inputs(pair.hparams(size), 0).x)
        counts = counts_of(model)
    return counts


def describe(pair: Any, sizes: list[str], with_params: bool) -> dict[str, Any]:
    """A pair as a plain dict (the ``--json`` schema, one entry of ``"pairs"``).

    Returns:
        ``{"name", "description", "module", "reference", "members", "controls", "loss",
        "learning_rate", "train_steps", "sizes": {size: {"batch", "hparams", "params"}}}``.
    """
    cls = type(pair)
    entry: dict[str, Any] = {
        "name": pair.name,
        "description": pair.description,
        "module": cls.__module__,
        "reference": pair.reference,
        "members": list(pair.members()),
        "controls": [m for m in pair.members() if m in pair.controls],
        "loss": pair.loss if isinstance(pair.loss, str) else getattr(pair.loss, "__name__", repr(pair.loss)),
        "learning_rate": pair.learning_rate,
        "train_steps": pair.train_steps,
        "sizes": {},
    }
    for size in sizes:
        if size not in pair.sizes:
            continue
        hp = pair.hparams(size)
        entry["sizes"][size] = {
            "batch": hp["batch"],
            "hparams": hp,
            "params": parameter_counts(pair, size) if with_params else None,
        }
    return entry


def _members_text(entry: dict[str, Any]) -> str:
    words = []
    for member in entry["members"]:
        if member == entry["reference"]:
            words.append(f"[bold]{member}[/bold] (ref)")
        elif member in entry["controls"]:
            words.append(f"[red]{member}[/red] (control)")
        else:
            words.append(member)
    return ", ".join(words)


def _hp_text(hp: dict[str, Any]) -> str:
    from rich.markup import escape

    from suite.text import clean_line

    return escape(clean_line(" ".join(f"{k}={v}" for k, v in hp.items() if k != "batch")))


def _params_text(params: dict[str, int] | None) -> str:
    if params is None:
        return "?"
    text = f"{params['total']:,}"
    return text


def print_table(entries: list[dict[str, Any]], with_params: bool, with_hparams: bool) -> None:
    """Render the pairs as a rich table on stdout (hyper-parameters only if asked)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from suite.text import clean_line

    table = Table(
        title="pairbench pairs",
        caption="(ref): reference member, the others are compared with it; "
        "(control): known-wrong build, expected structural-mismatch",
        show_lines=True,
    )
    table.add_column("pair", style="cyan", no_wrap=True)
    table.add_column("members", ratio=1)
    table.add_column("size", no_wrap=True)
    table.add_column("batch", justify="right", no_wrap=True)
    if with_params:
        table.add_column("params", justify="right", no_wrap=True)
    if with_hparams:
        table.add_column("hyper-parameters", ratio=1)
    for entry in entries:
        sizes = entry["sizes"]
        members = _members_text(entry)
        if entry["description"]:  # a user's pair file wrote it: no markup, no escape sequences
            members += f"\n[dim]{escape(clean_line(entry['description']))}[/dim]"
        row = [
            entry["name"],
            members,
            "\n".join(sizes),
            "\n".join(f"{s['batch']:,}" for s in sizes.values()),
        ]
        if with_params:
            row.append("\n".join(_params_text(s["params"]) for s in sizes.values()))
        if with_hparams:
            row.append("\n".join(_hp_text(s["hparams"]) for s in sizes.values()))
        table.add_row(*row)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    """List the pairs (after ``--pairs-from`` files, loaded by the CLI)."""
    from suite.zoo import get_pair, registered

    names = list(registered())
    chosen = check_names("pair", parse_filter("--pairs", args.pairs) or names, names)
    sizes = check_names("size", parse_filter("--sizes", args.sizes) or list(SIZES), SIZES)
    with_params = not args.no_params
    entries = [describe(get_pair(name), sizes, with_params) for name in chosen]
    if args.json:
        json.dump({"pairs": entries}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_table(entries, with_params, args.hparams)
    return 0
