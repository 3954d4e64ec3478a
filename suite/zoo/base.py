"""The pair registry: one class per architecture, registered with :func:`register_pair`.

A pair is a class deriving from :class:`Pair`. Its members are the methods named after
a flavor (``sequential``, ``functional``, ``subclass``, ``raw``, ``faulty``) or listed in
``extra_members``; each takes the size's hyper-parameters and returns a model:
a ``keras.Model`` or a ``tf.Module`` with ``__call__(x, training=False)``.

Example (also what a ``--pairs-from`` file looks like)::

    from suite.zoo import Pair, register_pair

    @register_pair
    class Tiny(Pair):
        name = "tiny_mlp"
        sizes = {"tiny": {"batch": 4, "features": 3}, "default": {...}, "large": {...}}

        def inputs(self, hp, seed):
            ...

        def sequential(self, hp):
            ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from suite.axes import MEMBERS, SIZES, check_name
from suite.errors import UsageError


@dataclass(frozen=True)
class Batch:
    """Synthetic inputs shared by every member of a pair (numpy arrays).

    Attributes:
        x: model input (float inputs are float32; cast by the runner to the compute dtype).
        y: training target (class indices for classification), or None: the target is then
            generated from the seed and the loss inferred (``Pair.loss = "auto"``).
    """

    x: Any
    y: Any


def normal_batch(hp: dict[str, Any], seed: int, *dims: str) -> Batch:
    """Standard-normal float32 inputs of shape ``(batch, *hp[dims])`` and uniform int32 class
    labels in ``[0, hp["classes"])``, drawn in that order from ``seed``.

    Example: ``normal_batch(hp, seed, "timesteps", "features")`` for sequences.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((hp["batch"], *(hp[d] for d in dims)), dtype=np.float32)
    y = rng.integers(0, hp["classes"], size=hp["batch"], dtype=np.int32)
    return Batch(x, y)


class Pair:
    """Base class of every pair. Subclasses set the class attributes and define members."""

    #: registry name, used on the command line (``--pairs mlp``)
    name: ClassVar[str] = ""
    #: one-line description for ``pairbench list``
    description: ClassVar[str] = ""
    #: the member every other member is compared with (``vs_pair``) and copies weights from
    reference: ClassVar[str] = "sequential"
    #: size presets: ``{"tiny": {...}, "default": {...}, "large": {...}}`` or any of them (one is
    #: enough: a size the pair lacks runs the closest one it has); each dict must hold
    #: ``batch`` plus whatever the member builders use
    sizes: ClassVar[dict[str, dict[str, Any]]] = {}
    #: members beyond the standard flavors (method names), e.g. ``("generic",)``
    extra_members: ClassVar[tuple[str, ...]] = ()
    #: members that are known-wrong controls: expected verdict ``structural-mismatch`` or ``diverged``
    controls: ClassVar[tuple[str, ...]] = ("faulty",)
    #: Keras loss identifier or callable used by ``train_step`` and ``fit``; ``"auto"`` infers it
    #: from the labels (see :mod:`suite.zoo.loss`)
    loss: ClassVar[Any] = "sparse_categorical_crossentropy"
    #: learning rate of the fixed SGD optimizer used by ``train_step`` and ``fit``
    learning_rate: ClassVar[float] = 0.01
    #: number of optimizer steps per ``train_step``/``fit`` repeat
    train_steps: ClassVar[int] = 3
    #: ``y`` has one row per row of ``x`` (checked before a run starts); False for a model whose
    #: outputs have another number of rows than its inputs (it pools rows): ``y`` then matches
    #: the outputs, which pairbench cannot know before it builds a member (no ``fit`` then)
    labels_per_row: ClassVar[bool] = True

    def members(self) -> tuple[str, ...]:
        """Member names this pair defines, reference first."""
        names = [
            m for m in dict.fromkeys((*MEMBERS, *self.extra_members)) if callable(getattr(self, m, None))
        ]
        names.sort(key=lambda m: m != self.reference)
        return tuple(names)

    def size_for(self, size: str) -> str:
        """The size this pair runs when ``size`` is asked for: ``size`` itself, or the closest
        size the pair defines (a pair with one size runs it for every size)."""
        if size in self.sizes or size not in SIZES:
            return size
        have = [s for s in SIZES if s in self.sizes] or list(self.sizes)
        wanted = SIZES.index(size)
        return min(have, key=lambda s: (abs(SIZES.index(s) - wanted) if s in SIZES else len(SIZES), s))

    def hparams(self, size: str) -> dict[str, Any]:
        """The hyper-parameters of a size preset.

        Raises:
            UsageError: unknown size.
        """
        if size not in self.sizes:
            raise UsageError(f"pair {self.name!r} has no size {size!r}; valid: {', '.join(self.sizes)}")
        return dict(self.sizes[size])

    def build(self, member: str, size: str) -> Any:
        """Build one member at a size (fresh, randomly initialised: copy weights afterwards)."""
        if member not in self.members():
            raise UsageError(
                f"pair {self.name!r} has no member {member!r}; valid: {', '.join(self.members())}"
            )
        return getattr(self, member)(self.hparams(size))

    def inputs(self, hp: dict[str, Any], seed: int) -> Batch:
        """Seeded synthetic inputs for a size's hyper-parameters. Subclasses must override."""
        raise NotImplementedError(f"pair {self.name!r} defines no inputs()")


_REGISTRY: dict[str, type[Pair]] = {}


def register_pair(cls: type[Pair]) -> type[Pair]:
    """Class decorator: validate a :class:`Pair` subclass and add it to the registry.

    Raises:
        UsageError: the class is malformed (no name, no sizes or an unknown size name, no
            members, reference not among members, duplicate name from another module). A
            pair with a single member is valid: it is compared across modes, devices,
            precisions, determinism and reruns.
    """
    where = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(cls, type) or not issubclass(cls, Pair):
        raise UsageError(f"{where}: @register_pair needs a subclass of suite.zoo.Pair")
    if not cls.name:
        raise UsageError(f"{where}: pair class sets no `name`")
    try:
        check_name(cls.name, "pair name")
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if not cls.sizes:
        raise UsageError(
            f"{where}: pair {cls.name!r} defines no sizes (give at least one of {', '.join(SIZES)})"
        )
    unknown = [s for s in cls.sizes if s not in SIZES]
    if unknown:
        raise UsageError(
            f"{where}: pair {cls.name!r} has unknown sizes {', '.join(unknown)}; valid: {', '.join(SIZES)}"
        )
    for s, hp in cls.sizes.items():
        if "batch" not in hp:
            raise UsageError(f"{where}: size {s!r} of pair {cls.name!r} has no 'batch'")
    members = cls().members()
    for member in (*members, *cls.controls):
        try:
            check_name(member, f"member name of pair {cls.name!r}:")
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if cls.reference not in members:
        raise UsageError(f"{where}: reference member {cls.reference!r} is not defined")
    old = _REGISTRY.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise UsageError(f"{where}: pair name {cls.name!r} is already registered by {old.__module__}")
    _REGISTRY[cls.name] = cls
    return cls


PairFactory = Callable[[], Pair]
