"""User-supplied pairs: a ``.py`` file (``--pairs-from``) or an installed plugin.

A plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."pairbench.pairs"]
    my_pairs = "my_package.pairs"        # a module of @register_pair classes
    # or: my_pair = "my_package.pairs:MyPair"   (a Pair subclass, registered if needed)

Every problem (missing file, syntax error, failing import, nothing registered, malformed
pair) becomes a one-line :class:`~suite.errors.UsageError` naming the file or plugin.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from suite.errors import UsageError, one_line
from suite.zoo import base
from suite.zoo.base import Pair, register_pair

#: entry-point group scanned by :func:`load_entry_points`
ENTRY_POINT_GROUP = "pairbench.pairs"


def validate_pair(cls: type[Pair]) -> None:
    """Checks beyond ``@register_pair``: the pair must define ``inputs()``.

    Raises:
        UsageError: naming the pair and what it lacks.
    """
    if getattr(cls, "inputs", None) is Pair.inputs:
        raise UsageError(f"pair {cls.name!r} defines no inputs(hp, seed)")


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The line of ``path`` closest to where ``exc`` was raised, if it was raised there."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == path:
        return exc.lineno
    lineno = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and Path(frame.filename).resolve() == path:
            lineno = frame.lineno
    return lineno


@contextmanager
def seeded(path: Path, seed: int = 0) -> Iterator[None]:
    """Run a user file with every random generator seeded, so that it builds the same models
    and arrays in every process that loads it (the run's parent, each worker, ``--resume``).

    Python's and numpy's global generators are given back their state afterwards; TensorFlow's
    global seed (set when the file mentions TensorFlow or Keras) stays ``seed``.
    """
    import random

    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if "tensorflow" in text or "keras" in text:
        import keras

        keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class ImportExited(BaseException):
    """A pair file called ``os._exit()`` or ``os.abort()`` while it was imported (see :func:`no_exit`).

    A ``BaseException``, so that the file's own ``except Exception`` cannot swallow it.
    """

    def __init__(self, how: str):
        self.how = how
        super().__init__(how)


@contextmanager
def no_exit() -> Iterator[None]:
    """While a user's file is imported, make ``os._exit(N)`` and ``os.abort()`` raise
    :class:`ImportExited` instead of ending the process without a word.

    ``sys.exit`` is an exception already; these two end the process at once, so they are
    replaced for the length of the import (and given back afterwards). A process killed by a
    signal the file sends itself is beyond this.
    """
    import os
    import posix

    def _exit(code: int = 0) -> None:
        raise ImportExited(f"exited (code {code}) while being imported (os._exit({code!r}))")

    def abort() -> None:
        raise ImportExited("aborted while being imported (os.abort())")

    saved = (os._exit, posix._exit, os.abort, posix.abort)
    os._exit = posix._exit = _exit  # type: ignore[assignment]
    os.abort = posix.abort = abort  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit, posix._exit, os.abort, posix.abort = saved  # type: ignore[misc]


def _snapshot() -> dict[str, type[Pair]]:
    return dict(base._REGISTRY)


def _rollback(before: dict[str, type[Pair]]) -> None:
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


def _new_names(before: dict[str, type[Pair]]) -> list[str]:
    return [name for name, cls in base._REGISTRY.items() if before.get(name) is not cls]


def load_file(path: str) -> list[str]:
    """Import a user's file of ``@register_pair`` classes; return the pair names it registered.

    The file runs as a module named after its resolved path, so loading it twice replaces
    its pairs instead of clashing with them. On any error nothing stays registered.

    Args:
        path: the ``.py`` file, as the user wrote it (used in messages).

    Returns:
        Names of the pairs the file registered, in registration order.

    Raises:
        UsageError: one line naming the file and the problem, e.g.
            ``my_pairs.py:3: SyntaxError: invalid syntax``.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"{path}: no such file (--pairs-from expects a .py file of pairs)")
    resolved = file.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    modname = f"pairbench_user_pairs_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(modname, resolved)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported as a Python module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    before = _snapshot()
    sys.modules[modname] = module
    try:
        with seeded(resolved), no_exit():
            spec.loader.exec_module(module)
        names = _new_names(before)
        for name in names:
            validate_pair(base._REGISTRY[name])
    except UsageError as exc:
        _rollback(before)
        sys.modules.pop(modname, None)
        lineno = _line_in(resolved, exc)
        message = str(exc).replace(f"{modname}.", "")
        raise UsageError(f"{path}{f':{lineno}' if lineno else ''}: {message}") from None
    except (Exception, SystemExit, ImportExited) as exc:  # a file that calls sys.exit() is bad input too
        _rollback(before)
        sys.modules.pop(modname, None)
        lineno = _line_in(resolved, exc)
        if isinstance(exc, ImportExited):
            what = f"pair file {exc.how}"
        elif isinstance(exc, SystemExit):
            what = f"calls sys.exit({exc.code!r})"
        else:
            what = one_line(exc)
        raise UsageError(f"{path}{f':{lineno}' if lineno else ''}: {what}") from None
    if not names:
        sys.modules.pop(modname, None)
        raise UsageError(
            f"{path}: registers no pairs (decorate a suite.zoo.Pair subclass with @register_pair, "
            "or call suite.zoo.register_models({...}))"
        )
    return names


def _load_entry_point(ep: Any) -> list[str]:
    before = _snapshot()
    loaded = ep.load()
    if (
        isinstance(loaded, type)
        and issubclass(loaded, Pair)
        and base._REGISTRY.get(loaded.name) is not loaded
    ):
        register_pair(loaded)  # a class entry point ("pkg.mod:MyPair") that did not decorate itself
    names = _new_names(before)
    for name in names:
        validate_pair(base._REGISTRY[name])
    return names


def load_entry_points() -> list[str]:
    """Load every installed plugin of the ``pairbench.pairs`` entry-point group.

    Returns:
        Names of the pairs the plugins registered.

    Raises:
        UsageError: one line naming the broken plugin and its error.
    """
    names: list[str] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        before = _snapshot()
        try:
            with no_exit():
                names += _load_entry_point(ep)
        except (Exception, ImportExited) as exc:
            _rollback(before)
            detail = str(exc) if isinstance(exc, UsageError | ImportExited) else one_line(exc)
            raise UsageError(f"pair plugin {ep.name!r} ({ep.value}): {detail}") from None
    return names
