"""Record every layer's output during a forward pass, in eager mode, ``tf.function`` and XLA.

:class:`LayerCapture` temporarily wraps the layers of a member while it is active:

- Keras models (Sequential, Functional, subclassed): every layer below the model (leaves
  and composite blocks) gets an instance attribute ``call`` that calls the original and
  records its output; Keras' ``Layer.__call__`` looks ``self.call`` up on the instance.
- ``tf.Module`` members (``raw``): every sub-module with a ``__call__`` is recorded by
  wrapping ``__call__`` on its class (special methods are looked up on the type), passing
  through for instances that are not being captured.

Keys are the Keras layer path without the model's own name (``dense_0``, ``block_0/attn``)
or the sub-module's ``name``, so the same layer has the same key in every member of a pair.
A flat ``tf.Module`` member without sub-modules can still report its layers by a convention:
give it an attribute ``capture = None`` and, in ``__call__``, write
``if self.capture is not None: self.capture["dense_0"] = h`` after each block; while a
recording is active the attribute is a mapping that records what is written to it.
A layer that runs twice is recorded as ``key``, ``key#2``... Records are made in *completion*
order (a block's children before the block), which is execution order for leaf layers.

Inside ``tf.function``/XLA the recorded tensors are symbolic; the traced function must
return them (see :mod:`suite.divergence.localise`). Calls made inside a nested control-flow
graph (the cell of an RNN in a ``while`` loop) are not recorded: their tensors cannot leave
the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from suite.zoo.weights import is_keras


def _strip(path: str, prefix: str) -> str:
    return path[len(prefix) + 1 :] if path.startswith(prefix + "/") else path


def _keras_targets(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer).__name__ == "InputLayer":
            continue
        key = _strip(getattr(layer, "path", None) or layer.name, model.name)
        while key in found:  # two layers with one path: keep both, distinguishable
            key += "'"
        found[key] = layer
    return found


def _module_targets(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in model.submodules:
        if not callable(module):
            continue
        key = getattr(module, "name", None) or type(module).__name__
        while key in found:
            key += "'"
        found[key] = module
    return found


class _Recorder(dict):
    """What a member's ``capture`` attribute holds during a recording (see module docstring)."""

    def __init__(self, owner: LayerCapture):
        super().__init__()
        self._owner = owner

    def __setitem__(self, key: str, value: Any) -> None:
        self._owner._record(str(key), value, (), {})


class LayerCapture:
    """Context manager that records each layer's output while :meth:`start` is active.

    Args:
        model: a Keras model or a ``tf.Module`` member.

    Example::

        cap = LayerCapture(model)
        with cap:
            cap.start()
            y = model(x)
            outputs = cap.stop()   # {"dense_0": [tensor], "dense_1": [tensor]}
    """

    def __init__(self, model: Any):
        self.model = model
        self.keras = is_keras(model)
        self.targets: dict[str, Any] = _keras_targets(model) if self.keras else _module_targets(model)
        self._by_id = {id(obj): key for key, obj in self.targets.items()}
        #: the member follows the ``capture`` attribute convention (flat tf.Module)
        self.uses_convention = not self.keras and getattr(model, "capture", False) is None
        self._store: dict[str, list[Any]] | None = None
        self._graph: Any = None
        self._undo: list[Any] = []
        #: keys whose call arguments to keep (for tracing the layer's ops afterwards)
        self.inputs_for: set[str] = set()
        #: key -> (args, kwargs) of the first recorded call of each key in :attr:`inputs_for`
        self.inputs: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    # -- recording -------------------------------------------------------------------------
    def start(self) -> None:
        """Begin a recording (call inside the traced function, before the model)."""
        import tensorflow as tf

        self._store = {}
        self._graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        if self.uses_convention:
            object.__setattr__(self.model, "capture", _Recorder(self))

    def stop(self) -> dict[str, list[Any]]:
        """End the recording; return key -> list of output tensors, in completion order."""
        store, self._store = self._store or {}, None
        if self.uses_convention:
            object.__setattr__(self.model, "capture", None)
        return store

    def _record(self, key: str, out: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import tensorflow as tf

        if self._store is None:
            return
        here = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        if here is not self._graph:  # inside a loop/cond body: its tensors cannot leave it
            return
        tensors = [t for t in tf.nest.flatten(out) if tf.is_tensor(t)]
        if not tensors:
            return
        name, n = key, 1
        while name in self._store:
            n += 1
            name = f"{key}#{n}"
        self._store[name] = tensors
        if key in self.inputs_for and key not in self.inputs:
            self.inputs[key] = (args, dict(kwargs))

    # -- patching --------------------------------------------------------------------------
    def __enter__(self) -> LayerCapture:
        if self.keras:
            self._patch_keras()
        else:
            self._patch_modules()
        return self

    def __exit__(self, *exc: Any) -> None:
        while self._undo:
            self._undo.pop()()
        self._store = None
        if self.uses_convention:
            object.__setattr__(self.model, "capture", None)

    def _patch_keras(self) -> None:
        for key, layer in self.targets.items():
            had_own = "call" in layer.__dict__
            original = layer.call

            def wrapped(*args: Any, _original: Any = original, _key: str = key, **kwargs: Any) -> Any:
                out = _original(*args, **kwargs)
                self._record(_key, out, args, kwargs)
                return out

            functools.update_wrapper(wrapped, original)
            object.__setattr__(layer, "call", wrapped)
            if had_own:
                self._undo.append(functools.partial(object.__setattr__, layer, "call", original))
            else:
                self._undo.append(functools.partial(object.__delattr__, layer, "call"))

    def _patch_modules(self) -> None:
        classes: dict[type, Any] = {}
        for module in self.targets.values():
            for klass in type(module).__mro__:
                if "__call__" in klass.__dict__:
                    classes.setdefault(klass, klass.__dict__["__call__"])
                    break
        for klass, original in classes.items():

            def wrapped(inner_self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                out = _original(inner_self, *args, **kwargs)
                key = self._by_id.get(id(inner_self))
                if key is not None:
                    self._record(key, out, args, kwargs)
                return out

            functools.update_wrapper(wrapped, original)
            type.__setattr__(klass, "__call__", wrapped)
            self._undo.append(functools.partial(type.__setattr__, klass, "__call__", original))

    def layer_of(self, key: str) -> Any:
        """The layer (or sub-module) recorded under ``key`` (``key#2`` -> ``key``)."""
        return self.targets[base_key(key)]

    def keys(self) -> Iterator[str]:
        """Every capturable key."""
        return iter(self.targets)


def base_key(key: str) -> str:
    """``dense_1#2`` -> ``dense_1``."""
    return key.split("#", 1)[0]
