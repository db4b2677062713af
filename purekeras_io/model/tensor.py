"""Symbolic tensors and call nodes: how a Functional model records its graph.

A :class:`KerasTensor` has a shape (``None`` for unknown sizes), a dtype name and a history
``(layer, node_index, tensor_index)``. Calling a layer on KerasTensors records a :class:`Node`
holding the call's positional and keyword arguments (tensors stay in place), the structure both
Keras dialects serialize as ``inbound_nodes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .layer import Layer

__all__ = ["KerasTensor", "Node", "flatten", "map_structure", "shape_of"]

Shape = tuple[int | None, ...]


class KerasTensor:
    """A placeholder for a tensor in a Functional graph."""

    def __init__(
        self,
        shape: Shape,
        dtype: str = "float32",
        history: tuple[Layer, int, int] | None = None,
        sparse: bool = False,
    ) -> None:
        self.shape: Shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.history = history
        self.sparse = sparse

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str:
        return self.history[0].name if self.history else "keras_tensor"

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} from={self.name}>"

    def __hash__(self) -> int:
        return id(self)

    # Python operators become operator layers, as in Keras (TFOpLambda / keras.ops layers).
    def _op(self, name: str, *args: Any) -> Any:
        from ..layers.ops import apply_operator

        return apply_operator(name, *args)

    def __add__(self, other: Any) -> Any:
        return self._op("add", self, other)

    def __radd__(self, other: Any) -> Any:
        return self._op("add", other, self)

    def __sub__(self, other: Any) -> Any:
        return self._op("subtract", self, other)

    def __rsub__(self, other: Any) -> Any:
        return self._op("subtract", other, self)

    def __mul__(self, other: Any) -> Any:
        return self._op("multiply", self, other)

    def __rmul__(self, other: Any) -> Any:
        return self._op("multiply", other, self)

    def __truediv__(self, other: Any) -> Any:
        return self._op("divide", self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return self._op("divide", other, self)

    def __neg__(self) -> Any:
        return self._op("negative", self)

    def __pow__(self, other: Any) -> Any:
        return self._op("power", self, other)

    def __matmul__(self, other: Any) -> Any:
        return self._op("matmul", self, other)

    def __getitem__(self, key: Any) -> Any:
        return self._op("getitem", self, key)


class Node:
    """One call of a layer inside a graph: its arguments and the tensors it produced."""

    def __init__(self, layer: Layer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs: list[KerasTensor] = []

    @property
    def input_tensors(self) -> list[KerasTensor]:
        """Every KerasTensor in the arguments, in argument order (positional, then keyword)."""
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, KerasTensor)]

    @property
    def index(self) -> int:
        return self.layer.inbound_nodes.index(self)


def flatten(structure: Any) -> Iterator[Any]:
    """Leaves of a nest of lists, tuples and dicts (dict values in insertion order)."""
    if isinstance(structure, (list, tuple)):
        for item in structure:
            yield from flatten(item)
    elif isinstance(structure, dict):
        for item in structure.values():
            yield from flatten(item)
    else:
        yield structure


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the nest (lists stay lists, tuples tuples)."""
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def shape_of(structure: Any) -> Any:
    """Shapes of the tensors in a nest (``tuple`` for one tensor, ``list`` for a list of them)."""

    def one(t: Any) -> Any:
        shape = getattr(t, "shape", None)
        return tuple(shape) if shape is not None else t

    if isinstance(structure, (list, tuple)):
        return [shape_of(s) for s in structure]
    if isinstance(structure, dict):
        return {k: shape_of(v) for k, v in structure.items()}
    return one(structure)
