"""Pairs made from plain models: your own code, pasted as it is, plus one call.

:func:`register_models` turns a few models into a registered pair without a ``Pair``
class, sizes or a loss::

    # my_models.py  (pairbench run --pairs-from my_models.py)
    ...your Sequential, your subclass, your raw code, unchanged...

    from suite.zoo import register_models
    register_models({"sequential": model, "subclass": MyModel, "raw": build_raw}, x=x, y=y)

A member is a **class** (a ``keras.Model``/layer or ``tf.Module`` subclass built with no
arguments), a **function** returning a model (with no argument, or the size's
hyper-parameters), or a **model instance**. An instance is rebuilt for every case so that it
starts from the seeded initial weights and follows the precision's dtype policy: a
Sequential or Functional model is cloned (``keras.models.clone_model``), a subclassed one is
built again from its class when that takes no arguments; an instance that cannot be rebuilt
is reused (its first weights restored), and then has no float64 reference.

Inputs are ``x`` (and ``y``) arrays, or an ``inputs`` function (``inputs()`` or
``inputs(seed)``) returning ``x``, ``(x, y)`` or a :class:`~suite.zoo.base.Batch`; without
either, float32 standard-normal inputs of ``batch`` rows are generated from the reference's
input shape. Without ``y`` the target is generated and the loss is mean squared error; with
labels the loss is inferred from them (:mod:`suite.zoo.loss`) unless ``loss`` is given. The
pair has one size (``default``, the batch of ``x``), which runs whatever size is asked for.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suite.axes import MAX_NAME, check_name
from suite.errors import UsageError
from suite.zoo.base import Batch, Pair, register_pair
from suite.zoo.inputs import check_batch
from suite.zoo.loss import AUTO

#: rows of generated inputs when neither ``x`` nor ``inputs`` is given
DEFAULT_BATCH = 32
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def _clean(name: str) -> str:
    return _NAME.sub("_", name).strip("_-") or "models"


def _required_params(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def _is_model(obj: Any) -> bool:
    import keras
    import tensorflow as tf

    return isinstance(obj, keras.layers.Layer | tf.Module)


def _with_training_arg(model: Any) -> Any:
    """A ``tf.Module`` whose ``__call__`` takes no ``training`` argument, wrapped so it does."""
    import keras
    import tensorflow as tf

    if isinstance(model, keras.layers.Layer):
        return model
    params = inspect.signature(model.__call__).parameters
    if "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return model

    class TrainingArg(tf.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__(name=getattr(inner, "name", None) or "module")
            self.inner = inner

        def __call__(self, x: Any, training: bool = False) -> Any:
            return self.inner(x)

    return TrainingArg(model)


def _checked(member: str, built: Any) -> Any:
    if not _is_model(built):
        raise TypeError(f"member {member!r} built a {type(built).__name__}, not a keras.Model or tf.Module")
    return _with_training_arg(built)


def _clone(model: Any) -> Any:
    """A fresh copy of a Sequential/Functional model in the current dtype policy."""
    import keras

    def fresh(layer: Any) -> Any:
        config = layer.get_config()
        config.pop("dtype", None)  # follow the global policy (float64 reference, mixed precision)
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=fresh)


class _Reused:
    """An instance that cannot be rebuilt: the same object, its first weights restored each time."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.saved: list[tuple[Any, Any]] | None = None

    def __call__(self, hp: dict[str, Any], x: Any) -> Any:
        from suite.zoo.weights import ensure_built

        ensure_built(self.model, x)
        if self.saved is None:
            self.saved = [(v, np.array(v.numpy())) for v in self.model.variables]
        else:
            for var, value in self.saved:
                var.assign(value)
        return self.model


def _instance_builder(model: Any) -> Callable[[dict[str, Any], Any], Any]:
    """How to get a fresh copy of a model instance for each case (see the module docstring)."""
    import keras

    if isinstance(model, keras.Model) and (
        type(model) is keras.Sequential or type(model).__name__ == "Functional"
    ):
        return lambda hp, x: _clone(model)
    cls = type(model)
    if isinstance(model, keras.layers.Layer) and _required_params(cls) == 0:
        return lambda hp, x: cls()
    return _Reused(model)


def member_builder(name: str, obj: Any) -> Callable[[dict[str, Any], Any], Any]:
    """A builder ``(hp, x) -> model`` for one member given as a class, function or instance.

    Raises:
        UsageError: ``obj`` is none of those, or a class that needs constructor arguments.
    """
    if isinstance(obj, type):
        if not _is_model_class(obj):
            raise UsageError(
                f"member {name!r}: class {obj.__name__} is not a keras.Model, layer or tf.Module"
            )
        if _required_params(obj):
            raise UsageError(
                f"member {name!r}: {obj.__name__}() needs arguments; give a function that builds it"
            )
        return lambda hp, x: _checked(name, obj())
    if _is_model(obj):
        builder = _instance_builder(obj)
        return lambda hp, x: _checked(name, builder(hp, x))
    if callable(obj):
        takes_hp = _required_params(obj) >= 1
        return lambda hp, x: _checked(name, obj(hp) if takes_hp else obj())
    raise UsageError(
        f"member {name!r} is a {type(obj).__name__}: give a model, a model class or a function building one"
    )


def _snake(name: str) -> str:
    """``Sequential`` -> ``sequential``, ``MyModel`` -> ``my_model`` (how Keras names instances)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _is_model_class(cls: type) -> bool:
    import keras
    import tensorflow as tf

    return issubclass(cls, keras.layers.Layer | tf.Module)


def member_names(members: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(members, Mapping):
        named = {str(k): v for k, v in members.items()}
    else:
        named = {}
        for obj in members:
            label = getattr(obj, "__name__", None) or _snake(type(obj).__name__)  # an instance: its class
            named[_clean(str(label))] = obj
        if len(named) != len(members):
            raise UsageError("two members have the same name: give them as a dict {name: model}")
    for name in named:
        check_name(name, "member name")
    if not named:
        raise UsageError("no members: give at least one model")
    return named


def _as_batch(value: Any, what: str) -> Batch:
    if isinstance(value, Batch):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return Batch(value[0], value[1])
    if isinstance(value, Mapping) and "x" in value:
        return Batch(value["x"], value.get("y"))
    if value is None:
        raise UsageError(f"{what} returned None: return x, (x, y) or suite.zoo.Batch(x, y)")
    return Batch(value, None)


def _generated_inputs(name: str, reference: Any, batch: int) -> Callable[[int], Batch]:
    """Inputs drawn from the seed, shaped by the reference's declared input (if it has one)."""
    import tensorflow as tf

    model = reference if _is_model(reference) else None
    if model is None and isinstance(reference, type) and not _required_params(reference):
        model = reference()
    elif model is None and callable(reference):
        model = reference({"batch": batch}) if _required_params(reference) else reference()
    spec = getattr(model, "inputs", None)
    if not spec or len(spec) != 1 or any(d is None for d in spec[0].shape[1:]):
        raise UsageError(
            f"reference member {name!r} declares no input shape (a subclassed model learns it "
            "when called): give x=... or inputs=..."
        )
    shape, dtype = tuple(spec[0].shape[1:]), tf.as_dtype(spec[0].dtype)
    if not dtype.is_floating:
        raise UsageError(f"reference member {name!r} takes {dtype.name} inputs: give x=... or inputs=...")

    def generate(seed: int) -> Batch:
        rng = np.random.default_rng(seed)
        return Batch(rng.standard_normal((batch, *shape), dtype=np.float32), None)

    return generate


def _input_fn(
    x: Any, y: Any, inputs: Callable[..., Any] | None, reference: tuple[str, Any], batch: int
) -> Callable[[int], Batch]:
    if inputs is not None:
        if x is not None:
            raise UsageError("give x or inputs, not both")
        takes_seed = _required_params(inputs) >= 1
        return lambda seed: _as_batch(inputs(seed) if takes_seed else inputs(), "inputs()")
    if x is not None:
        fixed = Batch(x, y)
        return lambda seed: fixed
    if y is not None:
        raise UsageError("y without x: give x too")
    return _generated_inputs(*reference, batch)


def _batch_size(x: Any) -> int:
    import tensorflow as tf

    first = tf.nest.flatten(x)[0]
    return int(np.shape(first)[0])


def models_pair(
    members: Mapping[str, Any] | Sequence[Any],
    *,
    x: Any = None,
    y: Any = None,
    inputs: Callable[..., Any] | None = None,
    name: str = "models",
    reference: str | None = None,
    controls: Sequence[str] = (),
    loss: Any = AUTO,
    batch: int = DEFAULT_BATCH,
    learning_rate: float = 0.01,
    train_steps: int = 3,
    description: str = "",
    module: str | None = None,
) -> type[Pair]:
    """A :class:`~suite.zoo.base.Pair` class made from plain models (not registered).

    Args:
        members: ``{name: model, class or function}``, or a list (named after the class or
            function, or the model's class in snake case: ``sequential``, ``my_model``). The
            first is the reference unless ``reference`` says otherwise.
            One member is enough.
        x: the inputs (numpy arrays, possibly nested); the same for every member.
        y: the labels (None: a seeded target and mean squared error).
        inputs: instead of ``x``/``y``: a function ``inputs()`` or ``inputs(seed)`` returning
            ``x``, ``(x, y)`` or a ``Batch``.
        name: the pair's name.
        reference: the member the others are compared with.
        controls: members expected to differ (shown as controls).
        loss: a Keras loss; ``"auto"`` infers it from the labels.
        batch: rows of generated inputs (only without ``x`` and ``inputs``).
        learning_rate: SGD learning rate of ``train_step``/``fit``.
        train_steps: optimizer steps per ``train_step``/``fit`` repeat.
        description: one line for ``pairbench list``.
        module: the module the pair is reported from (default: the caller's).

    Returns:
        The pair class.

    Raises:
        UsageError: bad members or inputs (one line).
    """
    check_name(name, "pair name")
    named = member_names(members)
    ref = reference or next(iter(named))
    if ref not in named:
        raise UsageError(f"reference {ref!r} is not a member; members: {', '.join(named)}")
    unknown = [c for c in controls if c not in named]
    if unknown:
        raise UsageError(f"controls {', '.join(unknown)} are not members")
    builders = {m: member_builder(m, obj) for m, obj in named.items()}
    make_inputs = _input_fn(x, y, inputs, (ref, named[ref]), batch)
    sample = make_inputs(0)
    check_batch(name, sample, what="the inputs given (x, y or inputs())")
    hp = {"batch": _batch_size(sample.x)}
    order = (ref, *(m for m in named if m != ref))

    def build(self: Pair, member: str, size: str) -> Any:
        if member not in builders:
            raise UsageError(f"pair {self.name!r} has no member {member!r}; valid: {', '.join(order)}")
        return builders[member](self.hparams(size), sample.x)

    attrs = {
        "name": name,
        "description": description or f"your models: {', '.join(order)}",
        "reference": ref,
        "sizes": {"default": hp},
        "extra_members": order,
        "controls": tuple(controls),
        "loss": loss,
        "learning_rate": learning_rate,
        "train_steps": train_steps,
        "members": lambda self: order,
        "build": build,
        "inputs": lambda self, hp, seed: make_inputs(seed),
        "fixed_inputs": x is not None,
        "__module__": module or "suite.zoo.models",
        "__qualname__": f"models[{name}]",
    }
    return type(f"Models_{name}", (Pair,), attrs)


def register_models(
    members: Mapping[str, Any] | Sequence[Any], *, name: str | None = None, **options: Any
) -> str:
    """Register plain models as a pair (see the module docstring); call it in a ``--pairs-from`` file.

    Args:
        members: ``{name: model, class or function}`` or a list of them.
        name: the pair's name (default: the calling file's name).
        **options: as :func:`models_pair` (``x``, ``y``, ``inputs``, ``reference``, ``loss``...).

    Returns:
        The pair's name.

    Raises:
        UsageError: bad members or inputs, or a name another pair already has.
    """
    caller = sys._getframe(1).f_globals
    if name is None:  # the file's name, made a valid pair name; a name given is checked as it is
        name = _clean(Path(caller.get("__file__") or "models").stem)[:MAX_NAME]
    cls = models_pair(members, name=name, module=caller.get("__name__"), **options)
    register_pair(cls)
    return cls.name
