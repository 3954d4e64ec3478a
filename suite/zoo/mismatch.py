"""What keeps a member from taking the reference's weights, in words (member first).

When :func:`suite.zoo.align.match_variables` cannot match two members, these functions find
the closest partial matching and say what differs: by name when most names line up, else by
a diff of the two forward orders, layer by layer (``no bias after w1 (the reference adds
dense/bias (64,))``, ``missing layer dense_2 (kernel (64, 64), bias (64,))``, ``extra variable
w3 (10,)``, ``shape of w1 (10, 32) vs dense/kernel (10, 64)``).
"""

from __future__ import annotations

import difflib
from typing import Any

from suite.zoo.variables import VariableInfo, signature


def signature_differences(
    pairs: list[tuple[VariableInfo, VariableInfo]], allow_cast: bool, *, same_keys: bool
) -> list[str]:
    """``shape of X (member) vs (reference)`` / ``dtype of ...`` for pairs that cannot take
    each other's values (the reference's key is named too unless both keys are one)."""
    messages = []
    for m, r in pairs:
        if signature(m, allow_cast) == signature(r, allow_cast):
            continue
        theirs = "" if same_keys else f"{r.key} "
        if m.shape != r.shape:
            messages.append(f"shape of {m.key} {m.shape} vs {theirs}{r.shape}")
        else:
            messages.append(f"dtype of {m.key} {m.dtype} vs {theirs}{r.dtype}")
    return messages


def name_differences(ref: list[VariableInfo], mem: list[VariableInfo]) -> list[str]:
    """Missing/extra variables and shape/dtype differences, matching by key (member first).

    Returns:
        ``"no bias in dense_1 (64,)"``, ``"missing variable bn_0/gamma (8,)"``, ``"extra variable
        dense_2/kernel (64, 64)"``, ``"shape of dense_0/kernel (10, 32) vs (10, 64)"``...
    """
    from suite.zoo.paths import structural_differences

    return structural_differences({r.key: r.var for r in ref}, {m.key: m.var for m in mem})


def mostly_named_alike(ref: list[VariableInfo], mem: list[VariableInfo]) -> bool:
    """True when at least half of the reference's keys are also the member's (names are meant)."""
    common = {r.key for r in ref} & {m.key for m in mem}
    return bool(ref) and 2 * len(common) >= len(ref)


def _groups(infos: list[VariableInfo]) -> list[list[VariableInfo]]:
    """Runs of neighbours that belong to one layer (an untracked variable is a run of its own)."""
    runs: list[list[VariableInfo]] = []
    for info in infos:
        if runs and info.layer_key and runs[-1][-1].layer_key == info.layer_key:
            runs[-1].append(info)
        else:
            runs.append([info])
    return runs


def _diff(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool, out: tuple[list, list, list]
) -> None:
    """Variable-level diff by signature into ``out`` (pairs, missing, extra)."""
    pairs, missing, extra = out
    matcher = difflib.SequenceMatcher(
        None,
        [signature(r, allow_cast) for r in ref],
        [signature(m, allow_cast) for m in mem],
        autojunk=False,
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pairs += list(zip(mem[j1:j2], ref[i1:i2], strict=True))
        else:
            missing += ref[i1:i2]
            extra += mem[j1:j2]


def sequence_pairs(
    ref: list[VariableInfo], mem: list[VariableInfo], allow_cast: bool = False
) -> tuple[list[tuple[VariableInfo, VariableInfo]], list[VariableInfo], list[VariableInfo]]:
    """The closest alignment of two forward orders that do not match: a diff of their layers
    (runs of one layer's variables), then of the variables inside layers that differ.

    Returns:
        ``(pairs, missing, extra)``: matched ``(member, reference)`` pairs (same signature, or
        the same position in a replaced stretch), reference variables the member lacks, and
        member variables the reference lacks.
    """
    out: tuple[list, list, list] = ([], [], [])
    ref_runs, mem_runs = _groups(ref), _groups(mem)

    def key(run: list[VariableInfo]) -> tuple[Any, ...]:
        return tuple(signature(i, allow_cast) for i in run)

    matcher = difflib.SequenceMatcher(
        None, [key(r) for r in ref_runs], [key(m) for m in mem_runs], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        flat_ref = [v for run in ref_runs[i1:i2] for v in run]
        flat_mem = [v for run in mem_runs[j1:j2] for v in run]
        if tag in ("delete", "insert"):
            out[1].extend(flat_ref)
            out[2].extend(flat_mem)
        elif tag == "equal" or i2 - i1 != j2 - j1:
            _diff(flat_ref, flat_mem, allow_cast, out)
        else:
            for r_run, m_run in zip(ref_runs[i1:i2], mem_runs[j1:j2], strict=True):
                _diff(r_run, m_run, allow_cast, out)
    return out


def variable_differences(
    ref: list[VariableInfo], mem: list[VariableInfo], *, allow_cast: bool = False
) -> list[str]:
    """What keeps a member from taking the reference's weights, member first.

    Matches by name when most names line up, else by the closest forward-order alignment:
    ``"no bias after w1 (the reference adds dense/bias (64,))"``, ``"missing layer dense_2
    (kernel (64, 64), bias (64,))"``, ``"extra variable w3 (10,)"``, ``"shape of w1 (10, 32) vs
    dense/kernel (10, 64)"``.
    """
    if mostly_named_alike(ref, mem):
        return name_differences(ref, mem)
    pairs, missing, extra = sequence_pairs(ref, mem, allow_cast)
    messages = signature_differences(pairs, allow_cast, same_keys=False)
    messages += _missing_messages(ref, missing, pairs)
    messages += _layer_messages(mem, extra, "extra")
    return messages


def _missing_messages(
    ref: list[VariableInfo], missing: list[VariableInfo], pairs: list[tuple[VariableInfo, VariableInfo]]
) -> list[str]:
    """Missing biases named as such (after the member variable that precedes them)."""
    member_of = {id(r.var): m for m, r in pairs}
    position = {id(r.var): i for i, r in enumerate(ref)}
    biases, others = [], []
    for info in missing:
        if info.leaf == "bias" or (len(info.shape) == 1 and "bias" in info.key):
            before = [r for r in ref[: position[id(info.var)]] if id(r.var) in member_of]
            where = f"after {member_of[id(before[-1].var)].key}" if before else "at the start"
            biases.append(f"no bias {where} (the reference adds {info.key} {info.shape})")
        else:
            others.append(info)
    return biases + _layer_messages(ref, others, "missing")


def _layer_messages(all_infos: list[VariableInfo], unmatched: list[VariableInfo], what: str) -> list[str]:
    """``missing layer X (...)`` when a whole layer is unmatched, else one line per variable."""
    by_layer: dict[str, list[VariableInfo]] = {}
    for info in all_infos:
        by_layer.setdefault(info.layer_key, []).append(info)
    messages, done = [], set()
    for info in unmatched:
        layer = by_layer.get(info.layer_key, [])
        whole = info.layer_key and all(any(u is v for u in unmatched) for v in layer)
        if whole and info.layer_key not in done:
            done.add(info.layer_key)
            parts = ", ".join(f"{v.leaf} {v.shape}" for v in layer)
            messages.append(f"{what} layer {info.layer_key} ({parts})")
        elif not whole:
            messages.append(f"{what} variable {info.key} {info.shape}")
    return messages
