"""Errors, and how a failure becomes a verdict and a one-line reason.

The CLI turns :class:`UsageError` into one line and exit code 2. A case that fails becomes a
row: :func:`classify_failure` maps its exception to ``(verdict, reason)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from suite.text import clean_line, clean_text
from suite.verdicts import ERROR, INCOMPARABLE, STRUCTURAL_MISMATCH, UNSUPPORTED


class UsageError(Exception):
    """Bad input from the user (unknown name, malformed file, bad option value).

    The CLI prints ``pairbench: error: <message>`` and exits with code 2.
    """

    exit_code = 2


class RunInterrupted(BaseException):
    """SIGTERM or SIGHUP asked pairbench to stop; handled like Ctrl-C (``KeyboardInterrupt``).

    Raised in the main thread by the handler :func:`stop_on_signals` installs.
    """

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as shells report a process ended by a signal."""
        return 128 + self.signum


def stop_on_signals() -> Callable[[], None]:
    """Make SIGTERM and SIGHUP raise :class:`RunInterrupted` in the main thread (like Ctrl-C).

    Returns:
        A function that restores the previous handlers (a no-op outside the main thread).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: object) -> None:
        raise RunInterrupted(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for sig, previous in old.items():
            signal.signal(sig, previous)

    return restore


class CaseUnsupported(Exception):
    """A case cannot run on this machine or configuration (its row gets verdict ``unsupported``)."""


class StructuralMismatch(Exception):
    """A member cannot take the reference member's weights.

    Args:
        differences: human-readable differences, e.g. ``"no bias in dense_1 (64,)"``.
        flags: the record's machine-readable tags (``untracked-variables``...).
        models: ``(reference, member, inputs)`` when they were built: the configuration of
            the layers that do match, and their traced forward passes, are compared for the
            record's causes (``padding valid vs same`` in the convolution before a dense
            kernel of another shape).
        weight_map: ``[[member variable, reference variable], ...]`` when the weights did map
            (a member whose outputs have other shapes): the layers they pair are compared.
    """

    def __init__(
        self,
        differences: list[str],
        flags: list[str] | tuple[str, ...] = (),
        models: tuple[Any, Any, Any] | None = None,
        weight_map: list[list[str]] | None = None,
    ):
        self.differences = list(differences)
        self.flags = list(flags)
        self.models = models
        self.weight_map = weight_map
        super().__init__(" ; ".join(self.differences) or "structure differs")


class AmbiguousAlignment(Exception):
    """The member's variables could be matched to the reference's in more than one way.

    pairbench does not guess: the case gets verdict ``incomparable`` with this reason, which
    names the variables and why (``"3 variables of shape (64,) are never used in the forward
    pass: ..."``).
    """


# (pattern, template) pairs; the template gets the pattern's groups as {0}, {1}...
_DETERMINISM_ERRORS: tuple[tuple[str, str], ...] = (
    (
        r"Random ops require a seed to be set when determinism is enabled",
        "a random op has no seed (TensorFlow then requires one)",
    ),
    (
        r"([\w.]+) requires a non-zero seed to be passed in when determinism is enabled",
        "{0} needs a non-zero seed",
    ),
    (
        r"([\w.]+) requires \"seed\" and \"seed2\" to be non-zero.{0,80}determinism",
        "{0} needs non-zero seeds",
    ),
    (
        r"A deterministic GPU implementation of ([\w-]+(?: [\w-]+)*?)(?:Op)?(?:,.*?)? is not "
        r"(?:currently )?available",
        "no deterministic GPU implementation of {0}",
    ),
    (
        r"Deterministic GPU implementation of ([\w ]+?)(?: op)? not available",
        "no deterministic GPU implementation of {0}",
    ),
    (
        r"Determinism is not yet supported (?:in GPU implementation of|for) ([\w ]+?)(?:\.|$| when)",
        "no deterministic implementation of {0}",
    ),
    (
        r"The GPU implementation of (\w+) that would have been executed is not deterministic",
        "no deterministic GPU implementation of {0}",
    ),
    (
        r"([\w\"]+) cannot be called (?:when|if) determinism is enabled",
        "{0} cannot run",
    ),
    (
        r"GPU MaxPool gradient ops do not yet have a deterministic XLA implementation",
        "no deterministic XLA implementation of the GPU MaxPool gradient",
    ),
    (
        r"HLO instruction (\S+) does not have a deterministic implementation",
        "XLA: HLO {0} has no deterministic implementation",
    ),
    (
        r"(\w+)(?: op)? does not have (?:a|any) (?:GPU )?implementation that guarantees determinism",
        "no deterministic implementation of {0}",
    ),
)

_NODE = re.compile(r"\[Op:(\w+)\]|\{\{node ([^}]+)\}\}")


def unsupported_from_error(exc_or_message: BaseException | str) -> str | None:
    """Recognise an error raised because op determinism has no implementation for an op.

    Args:
        exc_or_message: the exception (or its message).

    Returns:
        A one-line reason naming the op (``"op determinism: no deterministic GPU implementation
        of unsorted segment reduction op (node UnsortedSegmentSum)"``), or None when the error
        is not a determinism one.
    """
    text = clean_text(exc_or_message)  # Keras wraps messages in terminal bold
    kind = type(exc_or_message).__name__ if isinstance(exc_or_message, BaseException) else ""
    reason = None
    for pattern, template in _DETERMINISM_ERRORS:
        match = re.search(pattern, text, flags=re.IGNORECASE | re.MULTILINE)
        if match:
            reason = template.format(*(g.strip('"') if g else "" for g in match.groups()))
            break
    if reason is None:
        is_unimplemented = "Unimplemented" in kind or "UnimplementedError" in text
        if not (is_unimplemented and re.search(r"determinis", text, flags=re.IGNORECASE)):
            return None
        first = next((line.strip() for line in text.splitlines() if "determinis" in line.lower()), "")
        reason = first[:160]
    node = _NODE.search(text)
    if node:
        reason += f" (node {node.group(1) or node.group(2)})"
    return "op determinism: " + " ".join(reason.split())


def classify_failure(exc: BaseException) -> tuple[str, str]:
    """Map an exception from preparing/running a case to ``(verdict, one-line reason)``.

    ``unsupported``: the configuration cannot run (device, precision, op determinism has no
    kernel, XLA cannot compile an op: the reason names the op and its node).
    ``structural-mismatch``: weights do not fit. ``incomparable``: weights could be matched
    in more than one way (no guess is made). Everything else is ``error``; out of memory (a
    ``MemoryError``, numpy's "Unable to allocate", TensorFlow's ``ResourceExhaustedError``,
    anywhere in the exception's chain) starts with "out of memory"; the reason is the root
    cause (:func:`root_cause`), not Keras' wrapper. The reason comes from user code: it is
    one line without control characters or escape sequences (:func:`suite.text.clean_line`).
    """
    verdict, reason = _classify(exc)
    return verdict, clean_line(reason)


def _classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, StructuralMismatch):
        return STRUCTURAL_MISMATCH, str(exc)
    if isinstance(exc, AmbiguousAlignment):
        return INCOMPARABLE, f"ambiguous weight alignment: {exc}"
    if isinstance(exc, CaseUnsupported):
        return UNSUPPORTED, str(exc)
    determinism = unsupported_from_error(exc)
    if determinism:
        return UNSUPPORTED, determinism
    text = clean_text(exc)
    xla = xla_unsupported_ops(text)
    if xla:
        return UNSUPPORTED, f"XLA cannot compile {xla}"
    if out_of_memory(exc):
        return ERROR, f"out of memory: {root_cause(exc)}"
    if "XLA" in text and "not compilable" in text.lower():
        return UNSUPPORTED, f"XLA cannot compile: {root_cause(exc)}"
    return ERROR, root_cause(exc)


#: messages of an allocation that failed: numpy's, TensorFlow's, CUDA's, the allocator's
_OOM_TEXT = re.compile(
    r"out of memory|\bOOM\b|Unable to allocate [\d.]+ \w+ for an array|failed to allocate|"
    r"CUDA_ERROR_OUT_OF_MEMORY|std::bad_alloc|Cannot allocate memory",
    flags=re.IGNORECASE,
)
_OOM_TYPES = ("MemoryError", "_ArrayMemoryError", "ResourceExhaustedError", "OutOfMemoryError")


def mentions_out_of_memory(text: str) -> bool:
    """Whether a message (a worker's fatal log line) says an allocation failed."""
    return bool(_OOM_TEXT.search(text)) or any(name in text for name in _OOM_TYPES)


def out_of_memory(exc: BaseException) -> bool:
    """Whether an exception, or one in its chain (``__cause__``/``__context__``), is an allocation
    that failed: a ``MemoryError`` (numpy's ``_ArrayMemoryError`` is one), TensorFlow's
    ``ResourceExhaustedError``, or a message saying so ("Unable to allocate 64.0 MiB for an
    array with shape (8388608,)", "OOM when allocating tensor", "out of memory")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError) or type(current).__name__ in _OOM_TYPES:
            return True
        if _OOM_TEXT.search(clean_text(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


_XLA_UNSUPPORTED = re.compile(r"Detected unsupported operations when trying to compile graph \S+ on (\S+?):")
_XLA_OP = re.compile(
    r"(\w+) \(No registered '\w+' OpKernel for \S+ devices compatible with node \{\{node ([^}]+)\}\}"
)


def xla_unsupported_ops(text: str) -> str | None:
    """The ops in TensorFlow's "Detected unsupported operations ... on XLA_CPU_JIT: SegmentSum
    (No registered 'SegmentSum' OpKernel ... {{node seg/SegmentSum}})" message.

    Returns:
        ``"SegmentSum (node seg/SegmentSum) on XLA_CPU_JIT"`` (every op, comma-separated), or
        None when the text is not that message.
    """
    match = _XLA_UNSUPPORTED.search(text)
    if not match:
        return None
    ops = [f"{op} (node {node})" for op, node in dict.fromkeys(_XLA_OP.findall(text[match.end() :]))]
    if not ops:  # an unknown wording: keep the op list as TensorFlow wrote it
        ops = [text[match.end() :].strip().splitlines()[0][:200]]
    return f"{', '.join(ops)}: no XLA kernel on {match.group(1)}"


#: Keras 3 wraps an exception raised in a layer's ``call`` (a message in terminal bold)
_KERAS_CALL = re.compile(
    r"Exception encountered when calling (?P<where>[\w.]+\(\))\.?\s*(?P<inner>.*?)"
    r"(?:\n\s*Arguments received by .*)?$",
    flags=re.DOTALL,
)
_KERAS_INFER = re.compile(
    r"Could not automatically infer the output shape / dtype of .*?Error encountered:\s*", re.S
)
_TF_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")
_AUTOGRAPH_ERROR = re.compile(r"^ {4}(\w*(?:Error|Exception)): ", flags=re.MULTILINE)
_TF_OP = re.compile(r"\s*\[Op:(\w+)\](?:\s*name:\s*\S*)?")


#: lines of a failing subprocess's output quoted in a reason
TAIL_LINES = 3


def output_tail(text: str, n: int = TAIL_LINES) -> str:
    """The last ``n`` non-empty lines of a process's output, joined by `` | `` (one line)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: ``Type: first non-empty line of its message`` (whitespace
    collapsed, at most ``limit`` characters of message); ``Type`` alone when it has none.

    The one helper for messages that quote an exception (for the root cause of a failed case,
    which follows ``raise ... from`` and unwraps Keras, see :func:`root_cause`).
    """
    text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(getattr(exc, "message", "") or exc)
    lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0][:limit]}" if lines else type(exc).__name__


def root_cause(exc: BaseException) -> str:
    """One line naming the root cause of an exception, and where and in which op it happened.

    Follows explicit causes (``raise ... from``) to the innermost, unwraps Keras' "Exception
    encountered when calling X.call()" (also nested, also "Could not automatically infer the
    output shape ... Error encountered:") to the message inside, drops TensorFlow's
    ``{{function_node ...}}`` prefixes and names the op from ``[Op:Name]``.

    Returns:
        e.g. ``"TypeError in ScatterAddDup.call(): Input 'updates' of 'TensorScatterAdd' Op has
        type float64 that does not match type float32 of argument 'tensor'"`` or
        ``"InvalidArgumentError: ... (op MatMul)"``.
    """
    inner = exc
    seen = {id(inner)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    line = _cause_line(inner)
    if inner is not exc:
        line += f" (raised as {_cause_line(exc)})"
    return line


def _cause_line(exc: BaseException) -> str:
    """``Type[ in Layer.call()]: first line of the unwrapped message[ (op Name)]``."""
    text = clean_text(exc).strip()
    name = type(exc).__name__
    if text.startswith("in user code:"):  # tf.function (autograph): the error is at the end
        raised = list(_AUTOGRAPH_ERROR.finditer(text))
        if raised:
            name = raised[-1].group(1)
            text = "\n".join(
                ln[4:] if ln.startswith("    ") else ln for ln in text[raised[-1].end() :].splitlines()
            )
    where: list[str] = []
    while True:
        match = _KERAS_CALL.match(text)
        if not match:
            break
        where.append(match.group("where"))
        text = _KERAS_INFER.sub("", match.group("inner").strip()).strip()
    op = _TF_OP.search(text)
    text = _TF_OP.sub("", _TF_FUNCTION_NODE.sub("", text)).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > 400:
        line = line[:399] + "…"
    head = name + (f" in {where[-1]}" if where else "")
    tail = f" (op {op.group(1)})" if op and f"'{op.group(1)}'" not in line else ""
    return f"{head}: {line}{tail}" if line else head
