"""What a layer's lowering works with: the function under construction and its variables.

A lowering (registered in :mod:`.registry`) receives a :class:`LowerContext` and the layer's
inputs as :class:`~purekeras_io.graph.Tensor` values, and emits ops with ``ctx.b.op(...)``.
The context gives it

* ``ctx.read(var)``: the variable's value (one ``DT_RESOURCE`` argument per variable and
  function, read once, cast to the layer's compute dtype when that differs, as Keras'
  autocasting does);
* small helpers every family needs (constants, casts, dynamic shapes, reshapes, transposes), so
  lowerings stay in their own terms.

Static shapes follow Keras: ``None`` for the batch and other dynamic dimensions. Where an op
needs a dimension that is dynamic, :meth:`LowerContext.shape_vector` builds it from ``Shape``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from ..graph.attrs import Shape
from ..graph.builder import FunctionBuilder, Library, Tensor
from ..model.variable import Variable

__all__ = ["Capture", "LowerContext"]


class Capture:
    """The variables a function reads, in first-use order (its resource arguments)."""

    def __init__(self) -> None:
        self.variables: list[Variable] = []
        self._args: dict[int, Tensor] = {}

    def resource(self, b: FunctionBuilder, var: Variable, name: str) -> Tensor:
        if id(var) not in self._args:
            from ..dtypes import by_numpy

            dtype = by_numpy(var.dtype).name
            self._args[id(var)] = b.arg(name, "resource", (), handle=(dtype, tuple(var.shape)))
            self.variables.append(var)
        return self._args[id(var)]


class LowerContext:
    """One function being built from layers."""

    def __init__(self, builder: FunctionBuilder, library: Library,
                 capture: Capture | None = None) -> None:
        self.b = builder
        self.library = library
        self.capture = capture if capture is not None else Capture()
        self._reads: dict[tuple[int, str], Tensor] = {}
        self.dialect = "keras3"
        """The dialect of the layer being lowered (its config's semantics)."""

    # ------------------------------------------------------------------ variables

    def read(self, var: Variable, dtype: str | None = None) -> Tensor:
        """The value of ``var`` (cast to ``dtype`` when given and different)."""
        from ..dtypes import by_numpy

        stored = by_numpy(var.dtype).name
        want = dtype or stored
        key = (id(var), want)
        if key in self._reads:
            return self._reads[key]
        base = (id(var), stored)
        if base not in self._reads:
            handle = self.capture.resource(self.b, var, f"{(var.path or var.name)}")
            label = (var.path or var.name).replace(":", "_")
            with self.b.scope(label):
                self._reads[base] = cast(
                    Tensor,
                    self.b.op("ReadVariableOp", handle, name="Read", dtype=stored,
                              shape=tuple(var.shape)),
                )
        value = self._reads[base]
        if want != stored:
            value = self.cast(value, want)
        self._reads[key] = value
        return value

    # ------------------------------------------------------------------ helpers

    def op(self, op_type: str, *inputs: Any, **kwargs: Any) -> Any:
        return self.b.op(op_type, *inputs, **kwargs)

    def const(self, value: Any, dtype: str | None = None) -> Tensor:
        return self.b.const(value, dtype)

    def scalar(self, value: float, like: Tensor) -> Tensor:
        """A scalar constant of ``like``'s dtype."""
        return self.b.const(np.asarray(value), like.dtype)

    def cast(self, x: Tensor, dtype: str) -> Tensor:
        if x.dtype == dtype:
            return x
        return cast(Tensor, self.b.op("Cast", x, SrcT=x.dtype, DstT=dtype, shape=x.shape))

    def unary(self, op_type: str, x: Tensor) -> Tensor:
        return cast(Tensor, self.b.op(op_type, x))

    def binary(self, op_type: str, x: Tensor, y: Tensor | float) -> Tensor:
        other = y if isinstance(y, Tensor) else self.scalar(y, x)
        return cast(Tensor, self.b.op(op_type, x, other))

    def add(self, x: Tensor, y: Tensor | float) -> Tensor:
        return self.binary("AddV2", x, y)

    def sub(self, x: Tensor, y: Tensor | float) -> Tensor:
        return self.binary("Sub", x, y)

    def mul(self, x: Tensor, y: Tensor | float) -> Tensor:
        return self.binary("Mul", x, y)

    def div(self, x: Tensor, y: Tensor | float) -> Tensor:
        return self.binary("RealDiv", x, y)

    def shape_vector(self, x: Tensor, dims: Sequence[int | Tensor | None] | None = None
                     ) -> Tensor:
        """An int32 shape vector: ``dims`` with ``None`` entries taken from ``x`` at run time
        (index i of ``x``), int entries as constants, Tensor entries as given (scalars).
        Without ``dims``: the full shape of ``x`` (a constant when static)."""
        if dims is None:
            if x.shape is not None and all(d is not None for d in x.shape):
                return self.const(np.asarray(x.shape, np.int32))
            return cast(Tensor, self.b.op("Shape", x, out_type="int32",
                                          shape=(x.rank,) if x.rank is not None else None))
        if all(isinstance(d, int) for d in dims):
            return self.const(np.asarray(dims, np.int32))
        parts: list[Tensor] = []
        full = None
        for i, d in enumerate(dims):
            if isinstance(d, Tensor):
                parts.append(self.reshape(d, (1,)))
            elif d is None:
                if full is None:
                    full = cast(Tensor, self.b.op("Shape", x, out_type="int32"))
                parts.append(self.strided_slice(full, [i], [i + 1], [1], shape=(1,)))
            else:
                parts.append(self.const(np.asarray([d], np.int32)))
        return self.concat(parts, 0, shape=(len(dims),))

    def dim(self, x: Tensor, i: int) -> Tensor:
        """Dimension ``i`` of ``x`` as an int32 scalar (a constant when static)."""
        if x.shape is not None and x.shape[i] is not None:
            return self.const(np.asarray(x.shape[i], np.int32))
        full = cast(Tensor, self.b.op("Shape", x, out_type="int32"))
        idx = i if i >= 0 else cast(int, x.rank) + i
        return self.strided_slice(full, [idx], [idx + 1], [1], shrink_axis_mask=1, shape=())

    def reshape(self, x: Tensor, shape: Sequence[int | Tensor | None] | Tensor,
                static: Shape | None = None) -> Tensor:
        """Reshape; ``shape`` entries: ints (``-1`` allowed), ``None`` = that dimension of
        ``x`` at run time, scalars Tensors."""
        if isinstance(shape, Tensor):
            vec = shape
        elif all(isinstance(d, int) for d in shape):
            vec = self.const(np.asarray(shape, np.int32))
        else:
            vec = self.shape_vector(x, shape)
        if static is None and not isinstance(shape, Tensor):
            static = tuple(
                (x.shape[i] if x.shape is not None and i < len(x.shape) else None)
                if d is None else (d if isinstance(d, int) and d >= 0 else None)
                for i, d in enumerate(shape)
            )
        return cast(Tensor, self.b.op("Reshape", x, vec, shape=static))

    def transpose(self, x: Tensor, perm: Sequence[int]) -> Tensor:
        shape = None if x.shape is None else tuple(x.shape[p] for p in perm)
        return cast(Tensor, self.b.op("Transpose", x, self.const(np.asarray(perm, np.int32)),
                                      shape=shape))

    def concat(self, xs: Sequence[Tensor], axis: int, shape: Shape = None) -> Tensor:
        if len(xs) == 1:
            return xs[0]
        if shape is None and all(t.shape is not None for t in xs):
            shapes = [cast(tuple[int | None, ...], t.shape) for t in xs]
            ax = axis % len(shapes[0])
            total = [s[ax] for s in shapes]
            merged = list(shapes[0])
            merged[ax] = None if any(d is None for d in total) else sum(
                cast(list[int], total))
            shape = tuple(merged)
        return cast(Tensor, self.b.op("ConcatV2", list(xs),
                                      self.const(np.asarray(axis, np.int32)), shape=shape))

    def strided_slice(self, x: Tensor, begin: Sequence[int], end: Sequence[int],
                      strides: Sequence[int], shape: Shape = None, **masks: Any) -> Tensor:
        return cast(Tensor, self.b.op(
            "StridedSlice", x, self.const(np.asarray(begin, np.int32)),
            self.const(np.asarray(end, np.int32)), self.const(np.asarray(strides, np.int32)),
            shape=shape, **masks,
        ))

    def reduce(self, op_type: str, x: Tensor, axes: Sequence[int], keepdims: bool = False
               ) -> Tensor:
        """``Mean``/``Sum``/``Max``/``Min``/``Prod`` over ``axes``."""
        shape = None
        if x.shape is not None:
            rank = len(x.shape)
            norm = {a % rank for a in axes}
            shape = tuple(
                (1 if keepdims else -2) if i in norm else d for i, d in enumerate(x.shape)
            )
            shape = tuple(d for d in shape if d != -2)
        return cast(Tensor, self.b.op(
            op_type, x, self.const(np.asarray(list(axes), np.int32)), keep_dims=keepdims,
            shape=shape,
        ))

    def matmul(self, x: Tensor, kernel: Tensor) -> Tensor:
        """``x @ kernel`` over the last axis of ``x`` (any rank, as Keras' Dense)."""
        units = kernel.shape[-1] if kernel.shape else None
        if x.rank == 2:
            return cast(Tensor, self.b.op("MatMul", x, kernel,
                                          shape=(cast(tuple, x.shape)[0], units)))
        out_shape = None if x.shape is None else (*x.shape[:-1], units)
        # Keras (both generations) lowers rank > 2 as tensordot: reshape, MatMul, reshape.
        flat = self.reshape(x, [-1, cast(int, cast(tuple, kernel.shape)[0])])
        mm = cast(Tensor, self.b.op("MatMul", flat, kernel))
        if x.shape is not None and all(d is not None for d in x.shape[:-1]):
            return self.reshape(mm, [*cast(tuple, x.shape)[:-1], cast(int, units)],
                                static=out_shape)
        lead = self.strided_slice(self.shape_vector(x), [0], [-1], [1])
        vec = self.concat([lead, self.const(np.asarray([units], np.int32))], 0)
        return self.reshape(mm, vec, static=out_shape)

    def identity(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.b.op("Identity", x))

    def new_function(self, name: str) -> FunctionBuilder:
        """A builder for a nested function (``While`` bodies), named uniquely in the library."""
        return FunctionBuilder(self.library.reserve(name))


Lowering = Callable[..., Any]
