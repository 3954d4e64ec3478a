"""Every variable of a member, tracked or not, with what it is and where it lives.

Keras only counts, trains and saves the variables it tracks (``add_weight`` and the weights of
its layers). A ``tf.Variable`` assigned to an attribute of a ``keras.Model`` or layer is *not*
tracked by Keras 3: ``model.variables`` and ``count_params()`` leave it out and ``fit`` never
updates it, yet the forward pass uses it. :func:`inventory` finds both kinds: the tracked
variables keyed as :func:`suite.zoo.weights.variables_by_path` keys them, and the untracked
ones keyed by their attribute path (``w1``, ``block.w``), so that structural matching and the
audit see the model as it really computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from suite.zoo.paths import attribute_variables, dtype_name, is_keras, shape_of, variables_by_path


@dataclass(frozen=True)
class VariableInfo:
    """One variable of a member.

    Attributes:
        key: ``<layer>/<var>`` for tracked variables, the attribute path for untracked ones.
        var: the variable object.
        shape: its shape.
        dtype: its dtype name.
        trainable: whether an optimizer would update it.
        tracked: False for a ``tf.Variable`` that Keras does not track.
        layer: the Keras layer that owns it, if any.
        layer_key: the key without the variable's own name (``dense_1``; ``""`` for none).
        leaf: the variable's own name (``kernel``, ``bias``, ``w1``).
    """

    key: str
    var: Any
    shape: tuple[int, ...]
    dtype: str
    trainable: bool
    tracked: bool
    layer: Any
    layer_key: str
    leaf: str

    @property
    def signature(self) -> tuple[tuple[int, ...], str]:
        """``(shape, dtype)``: what two variables must share to take each other's values."""
        return self.shape, self.dtype

    def describe(self) -> str:
        """``dense_1/kernel (64, 10)``."""
        return f"{self.key} {self.shape}"


def signature(info: VariableInfo, allow_cast: bool = False) -> tuple[Any, ...]:
    """What two variables must share to take each other's values: shape and dtype (shape only
    when values may be cast)."""
    return (info.shape,) if allow_cast else info.signature


def untracked_variables(model: Any) -> dict[str, Any]:
    """The ``tf.Variable`` attributes of a Keras member that Keras does not track.

    Returns:
        Attribute path -> variable; empty for ``tf.Module`` members (``tf.Module`` tracks
        every variable attribute).
    """
    from suite.zoo.forward import tf_variable

    if not is_keras(model):
        return {}
    tracked = {id(tf_variable(v)) for v in model.variables}
    return {path: var for path, var in attribute_variables(model).items() if id(var) not in tracked}


def _owners(model: Any) -> dict[int, Any]:
    """Keras variable ``id`` -> the layer that created it."""
    owners: dict[int, Any] = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        own = [*getattr(layer, "_trainable_variables", []), *getattr(layer, "_non_trainable_variables", [])]
        own += [
            g.state for g in getattr(layer, "_seed_generators", []) if getattr(g, "state", None) is not None
        ]
        for var in own:
            owners.setdefault(id(var), layer)
    return owners


def _info(key: str, var: Any, tracked: bool, layer: Any, layer_key: str, leaf: str) -> VariableInfo:
    return VariableInfo(
        key=key,
        var=var,
        shape=shape_of(var),
        dtype=dtype_name(var),
        trainable=bool(var.trainable),
        tracked=tracked,
        layer=layer,
        layer_key=layer_key,
        leaf=leaf,
    )


def inventory(model: Any) -> list[VariableInfo]:
    """Every variable of a built member: tracked ones (creation order), then untracked ones.

    Args:
        model: a built Keras model or ``tf.Module``.

    Returns:
        One :class:`VariableInfo` per variable.
    """
    keras_model = is_keras(model)
    tracked = variables_by_path(model)
    if not keras_model:  # tf.Module lists variables by attribute name: use assignment order
        position = {id(v): i for i, v in enumerate(attribute_variables(model).values())}
        tracked = dict(sorted(tracked.items(), key=lambda kv: position.get(id(kv[1]), len(position))))
    owners = _owners(model) if keras_model else {}
    infos = []
    for key, var in tracked.items():
        layer_key, _, leaf = key.rpartition("/")
        infos.append(_info(key, var, True, owners.get(id(var)), layer_key, leaf))
    for path, var in untracked_variables(model).items():
        infos.append(_info(path, var, False, None, "", path.rpartition(".")[2]))
    return infos


def layer_names(model: Any) -> list[str]:
    """Names of every layer (Keras, any depth) or sub-module (``tf.Module``) of a member."""
    if is_keras(model):
        return [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)]
    return [getattr(m, "name", "") for m in model.submodules]
