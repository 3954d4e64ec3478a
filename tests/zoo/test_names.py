"""One name rule for pairs and members, whoever gives them (issue 27).

``@register_pair`` (the pair's name, its members, its controls), ``register_models`` and
``check_models`` all go through :func:`suite.axes.check_name`: a name that could leave
the run folder, break a report or a terminal, or not fit a file name is refused in one line.
"""

from __future__ import annotations

import pytest

from suite.axes import MAX_NAME, check_name
from suite.errors import UsageError
from suite.zoo import Pair, register_pair
from suite.zoo.base import _REGISTRY
from suite.zoo.models import member_names, models_pair

BAD = ["../evil", "<img src=x onerror=alert(1)>", "a\nb", "x" * 300, "", "-dash", ".hidden", "tab\there", "é"]


@pytest.mark.parametrize("name", BAD)
def test_the_rule_refuses_unsafe_names(name):
    with pytest.raises(UsageError, match="must be letters"):
        check_name(name, "member name")


def test_the_rule_accepts_plain_names():
    for name in ("mlp", "mlp_seed", "my-models", "A1", "x" * MAX_NAME):
        assert check_name(name) == name


def _pair(pair_name: str, member: str) -> type[Pair]:
    class Custom(Pair):
        name = pair_name
        sizes = {"tiny": {"batch": 2}}
        extra_members = ("sequential",)

        def sequential(self, hp):  # pragma: no cover (never built)
            return None

        def members(self):
            return ("sequential", member)

    return Custom


@pytest.mark.parametrize("name", BAD)
def test_register_pair_refuses_unsafe_pair_and_member_names(name):
    before = dict(_REGISTRY)
    with pytest.raises(UsageError, match=r"pair name .* must be letters|sets no `name`"):
        register_pair(_pair(name, "functional"))
    with pytest.raises(UsageError, match=r"member name .* must be letters"):
        register_pair(_pair("names_test_pair", name))
    assert before == _REGISTRY


@pytest.mark.parametrize("name", BAD)
def test_register_models_refuses_the_same_names(name):
    with pytest.raises(UsageError, match=r"member name .* must be letters"):
        member_names({name: object()})
    with pytest.raises(UsageError, match=r"pair name .* must be letters"):
        models_pair({"seq": object()}, name=name)
