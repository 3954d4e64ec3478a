"""The member analysis is done once per process and re-bound to each new build (speed of a run),
and what the re-bound analysis gives is what a fresh analysis gives."""

from __future__ import annotations

import byom_models as bm
import numpy as np
import pytest

from suite.errors import StructuralMismatch


@pytest.fixture
def fresh_cache():
    from suite.zoo import analysis_cache

    analysis_cache.clear()
    yield analysis_cache
    analysis_cache.clear()


def _seed_pair():
    from suite.zoo.models import models_pair

    my_model, broken = bm.seed_classes()
    x = np.random.default_rng(0).standard_normal((6, bm.FEATURES)).astype("float32")
    members = {"seq": bm.seed_sequential, "sub": my_model, "broken": broken}
    return models_pair(members, x=x)()


def _build(pair, member):
    from suite.zoo.prepare import as_inputs, build_members

    batch = pair.inputs(pair.hparams("default"), 0)
    return build_members(pair, member, "default", batch, as_inputs(batch.x, "float32"), 0)


def _examine_counter(monkeypatch) -> list[int]:
    from suite.zoo import audit

    calls: list[int] = []
    real = audit.examine

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(audit, "examine", counting)
    return calls


def test_second_build_of_a_member_reuses_the_analysis_and_copies_the_weights(fresh_cache, monkeypatch):
    calls = _examine_counter(monkeypatch)
    pair = _seed_pair()
    first = _build(pair, "sub")
    second = _build(pair, "sub")
    assert len(calls) == 1, "the second build should re-bind the remembered analysis"
    assert first.extra() == second.extra() and first.extra()["weight_match"] == "structure"
    assert first.audit == second.audit and first.notes == second.notes and first.flags == second.flags
    # the re-bound alignment points at the second build's variables: its weights are the reference's
    for var, ref in zip(second.model.trainable_variables, second.reference.trainable_variables, strict=True):
        assert np.array_equal(var.numpy(), ref.numpy())
        assert all(var is not v for v in first.model.trainable_variables)


def test_a_structural_mismatch_is_remembered_and_raised_again_with_the_whole_audit(fresh_cache, monkeypatch):
    calls = _examine_counter(monkeypatch)
    pair = _seed_pair()
    reasons = []
    for _ in range(2):
        with pytest.raises(StructuralMismatch) as info:
            _build(pair, "broken")
        reasons.append(str(info.value))
    assert len(calls) == 1
    assert reasons[0] == reasons[1] and "does not track" in reasons[0]


def test_pairs_registered_under_one_name_never_share_an_analysis(fresh_cache, monkeypatch):
    calls = _examine_counter(monkeypatch)
    _build(_seed_pair(), "sub")
    _build(_seed_pair(), "sub")  # another class of the same name (as check_models registers)
    assert len(calls) == 2


def test_a_build_whose_keys_changed_is_analysed_afresh(fresh_cache, monkeypatch):
    from suite.zoo import analysis_cache

    calls = _examine_counter(monkeypatch)
    pair = _seed_pair()
    _build(pair, "sub")
    (entries,) = analysis_cache._CACHE.values()
    (key,) = entries
    stale = entries[key]
    entries[key] = type(stale)(
        method=stale.method,
        mapping=tuple((m + "_gone", r) for m, r in stale.mapping),
        differences=stale.differences,
        ambiguous=stale.ambiguous,
        rng_layers=stale.rng_layers,
    )
    again = _build(pair, "sub")
    assert len(calls) == 2 and again.extra()["weight_map"] == [list(p) for p in stale.mapping]


def test_the_cache_does_not_keep_a_finished_pair_alive(fresh_cache):
    import gc
    import weakref

    pair = _seed_pair()
    _build(pair, "sub")
    assert len(fresh_cache._CACHE) == 1
    gone = weakref.ref(type(pair))
    del pair
    gc.collect()
    assert gone() is None and len(fresh_cache._CACHE) == 0
