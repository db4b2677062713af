"""``from_torch``: a PyTorch ``nn.Module`` → a purekeras_io Functional model with its weights.

How it works:

1. ``torch.fx`` symbolic tracing, with every module class :mod:`.torch_modules` knows (``Linear``,
   ``Conv2d``, ``BatchNorm2d``, ``LSTM``, ``TransformerEncoder``…) kept as a leaf, and
   ``ShapeProp`` on ``example_inputs`` to learn every tensor's shape.
2. One walk over the graph: a placeholder becomes a ``pk.Input``; a leaf module call becomes our
   layer(s) with converted weights (:mod:`.torch_weights`); a function or method call
   (``torch.flatten``, ``x.view``, ``operator.add``, ``F.relu``…) becomes a layer or nothing (a
   ``permute`` only changes the layout, a dropout is the identity at inference).
3. The model is built with ``pk.Model(inputs, outputs)``; our NumPy ``predict`` is its forward
   pass.

Layouts (see :mod:`.torch_layout`): with ``data_format="channels_last"`` (the default, what
TensorFlow runs on CPU) image tensors are ``(N, H, W, C)`` inside the Keras model. **Inputs and
outputs of rank 4 or 5 are channels-last** (give the Keras model ``x.transpose(0, 2, 3, 1)``);
other ranks keep torch's layout. ``keep_input_layout=True`` keeps every input and output in
torch's layout instead (one ``Permute`` after each image input and before each image output).
``data_format="channels_first"`` keeps NCHW everywhere (layers get ``data_format=
"channels_first"``; Keras on TensorFlow's CPU cannot run such convolutions).

What cannot be mapped raises :class:`~purekeras_io.errors.UnsupportedFeatureError` naming the
op or module (its path in the model, its class) and the source line from fx's stack trace.
"""

from __future__ import annotations

import operator
from typing import Any

from ..errors import ConfigError, UnsupportedFeatureError
from ..layers import Permute
from ..model import Functional, Input
from .torch_layout import TV, channels_last_perm, identity, same_memory_order

__all__ = ["from_torch"]


def _torch() -> Any:
    try:
        import torch
        import torch.fx
        from torch.fx.passes.shape_prop import ShapeProp  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "purekeras_io.importers.from_torch needs PyTorch (pip install torch)"
        ) from exc
    return torch


class Context:
    """The state of one conversion: the fx graph, its modules, the value of every node."""

    def __init__(self, gm: Any, data_format: str, keep_input_layout: bool) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.data_format = data_format
        self.keep_input_layout = keep_input_layout
        self.env: dict[str, Any] = {}
        self.node: Any = None
        self.used_names: set[str] = set()

    # ---------------------------------------------------------------- errors and names

    def where(self, node: Any = None) -> str:
        node = node if node is not None else self.node
        if node is None:
            return "?"
        place = f"node {node.name!r}"
        if node.op == "call_module":
            place = f"module {node.target!r} ({type(self.modules[node.target]).__name__})"
        trace = [ln.strip() for ln in (node.stack_trace or "").splitlines()]
        frames = [(ln, trace[i + 1] if i + 1 < len(trace) else "")
                  for i, ln in enumerate(trace) if ln.startswith("File ")]
        # the innermost frame outside torch itself: the model's own source line
        own = [f for f in frames if "/torch/" not in f[0] and "\\torch\\" not in f[0]]
        if own:
            place += f", {own[-1][0]}: {own[-1][1]}"
        return place

    def refuse(self, what: str, node: Any = None) -> UnsupportedFeatureError:
        return UnsupportedFeatureError(f"from_torch: {what} cannot be mapped to Keras layers "
                                       f"(at {self.where(node)})")

    def name(self, suffix: str = "") -> str | None:
        """A layer name from the current module's path (``layer1.0.conv1`` → ``layer1_0_conv1``;
        ``_1``, ``_2``… when a module is called again); None (automatic) for functions."""
        if self.node is None or self.node.op != "call_module":
            return None
        return self.unique(f"{str(self.node.target).replace('.', '_')}{suffix}")

    def unique(self, name: str) -> str:
        """``name``, or ``name_<k>`` when that was given out already in this conversion."""
        candidate, k = name, 0
        while candidate in self.used_names:
            k += 1
            candidate = f"{name}_{k}"
        self.used_names.add(candidate)
        return candidate

    # ---------------------------------------------------------------- shapes and layouts

    def meta_shape(self, node: Any = None, index: int | None = None) -> tuple[int, ...]:
        node = node if node is not None else self.node
        meta = node.meta.get("tensor_meta")
        if index is not None:
            meta = meta[index]
        if meta is None or not hasattr(meta, "shape"):
            raise self.refuse("an op whose result is not a tensor", node)
        return tuple(int(d) for d in meta.shape)

    def spatial_perm(self, rank: int) -> tuple[int, ...]:
        if self.data_format == "channels_first":
            return identity(rank)
        return channels_last_perm(rank)

    def permute(self, tv: TV, perm: tuple[int, ...]) -> TV:
        """``tv`` in layout ``perm`` (a ``Permute`` layer when it differs)."""
        if tv.perm == perm:
            return tv
        dims = [tv.perm.index(p) for p in perm[1:]]
        if perm[0] != 0 or tv.perm[0] != 0:
            raise self.refuse("a layout that moves the batch axis")
        tensor = Permute(dims)(tv.tensor)
        return tv.with_tensor(tensor, perm=perm)

    def torch_order(self, tv: TV) -> TV:
        """``tv`` with torch's element order (for reshape/flatten): unchanged when only size-1
        axes are out of place, else permuted to the identity."""
        if same_memory_order(tv.perm, tv.shape):
            return tv
        return self.permute(tv, identity(tv.rank))

    def result(self, tensor: Any, perm: tuple[int, ...], nonneg: bool = False,
               index: int | None = None) -> TV:
        return TV(tensor, perm, self.meta_shape(index=index), nonneg)


def _tracer_class(torch: Any, leaf_names: set[str]) -> Any:
    class Tracer(torch.fx.Tracer):  # type: ignore[misc, name-defined]
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            cls = type(m)
            if cls.__name__ in leaf_names and cls.__module__.startswith("torch.nn"):
                return True
            return bool(super().is_leaf_module(m, qualname))

    return Tracer


def _is_leaf(module: Any, leaves: set[str]) -> bool:
    cls = type(module)
    return cls.__name__ in leaves and cls.__module__.startswith("torch.nn")


def _forward1(self: Any, x: Any) -> Any:
    return getattr(self, self.inner)(x)


def _forward2(self: Any, x: Any, y: Any) -> Any:
    return getattr(self, self.inner)(x, y)


def _forward3(self: Any, x: Any, y: Any, z: Any) -> Any:
    return getattr(self, self.inner)(x, y, z)


_FORWARDS = {1: _forward1, 2: _forward2, 3: _forward3}


def _wrap(torch: Any, module: Any, n: int) -> Any:
    """A leaf module given as the model itself, inside a parent (fx traces a root's forward):
    ``forward(x[, y, z])`` calls it as submodule ``<snake_case class name>``."""
    if n not in _FORWARDS:
        raise UnsupportedFeatureError(f"from_torch: a leaf module with {n} inputs")
    root = type("Root", (torch.nn.Module,), {"forward": _FORWARDS[n]})()
    root.inner = _snake(type(module).__name__)
    root.add_module(root.inner, module)
    return root


def _as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    if isinstance(example_inputs, (list, tuple)):
        return tuple(example_inputs)
    return (example_inputs,)


def from_torch(
    module: Any,
    example_inputs: Any,
    *,
    data_format: str = "channels_last",
    keep_input_layout: bool = False,
    name: str | None = None,
) -> Functional:
    """A Functional model computing what ``module(*example_inputs)`` computes in eval mode.

    ``example_inputs``: a tensor or a tuple of tensors (their shapes become the Keras input
    shapes, the batch size left open; integer tensors become ``int32`` inputs). The module is
    traced in eval mode and put back in its previous mode afterwards.
    """
    if data_format not in ("channels_last", "channels_first"):
        raise ConfigError(
            f"from_torch: data_format must be 'channels_last' or 'channels_first', "
            f"received {data_format!r}"
        )
    torch = _torch()
    from torch.fx.passes.shape_prop import ShapeProp

    from . import torch_modules

    inputs = _as_tuple(example_inputs)
    was_training = bool(getattr(module, "training", False))
    module.eval()
    try:
        leaves = set(torch_modules.MODULES)
        tracer = _tracer_class(torch, leaves)()
        tracer.record_stack_traces = True
        root = _wrap(torch, module, len(inputs)) if _is_leaf(module, leaves) else module
        try:
            graph = tracer.trace(root)
        except Exception as exc:
            raise UnsupportedFeatureError(
                f"from_torch: torch.fx cannot trace {type(module).__name__} "
                f"({type(exc).__name__}: {exc}); data-dependent control flow and "
                "non-tensor inputs do not trace"
            ) from exc
        gm = torch.fx.GraphModule(tracer.root, graph)
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
        ctx = Context(gm, data_format, keep_input_layout)
        model_inputs, outputs = _walk(ctx, torch, inputs)
    finally:
        module.train(was_training)
    if not outputs:
        raise UnsupportedFeatureError("from_torch: the module returns no tensor")
    model_name = name or _snake(type(module).__name__)
    return Functional(
        model_inputs if len(model_inputs) > 1 else model_inputs[0],
        outputs if len(outputs) > 1 else outputs[0],
        name=model_name,
    )


def _snake(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch.isupper() and i and not text[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _walk(ctx: Context, torch: Any, examples: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
    from . import torch_modules, torch_ops

    model_inputs: list[Any] = []
    outputs: list[Any] = []
    placeholder = 0
    for node in ctx.gm.graph.nodes:
        ctx.node = node
        if node.op == "placeholder":
            if placeholder >= len(examples):
                raise ctx.refuse(f"input {node.target!r} without an example input")
            example = examples[placeholder]
            placeholder += 1
            ctx.env[node.name] = _input(ctx, node, example, model_inputs)
            continue
        args = torch.fx.node.map_arg(node.args, lambda n: ctx.env[n.name])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: ctx.env[n.name])
        if node.op == "call_module":
            mod = ctx.modules[node.target]
            handler = torch_modules.MODULES.get(type(mod).__name__)
            if handler is None:
                raise ctx.refuse(f"module class {type(mod).__name__!r}")
            ctx.env[node.name] = handler(ctx, mod, *args, **kwargs)
        elif node.op == "call_function":
            fname = getattr(node.target, "__name__", str(node.target))
            if node.target is operator.getitem:
                fname = "getitem"
            handler = torch_ops.FUNCTIONS.get(fname)
            if handler is None:
                raise ctx.refuse(f"function {_qualname(node.target)!r}")
            ctx.env[node.name] = handler(ctx, *args, **kwargs)
        elif node.op == "call_method":
            handler = torch_ops.METHODS.get(str(node.target))
            if handler is None:
                raise ctx.refuse(f"tensor method {node.target!r}")
            ctx.env[node.name] = handler(ctx, *args, **kwargs)
        elif node.op == "get_attr":
            raise ctx.refuse(f"a parameter or buffer used directly ({node.target!r})")
        elif node.op == "output":
            for value in _leaves(args[0]):
                outputs.append(_output(ctx, value))
    return model_inputs, outputs


def _qualname(target: Any) -> str:
    module = getattr(target, "__module__", None) or ""
    return f"{module}.{getattr(target, '__name__', target)}".lstrip(".")


def _input(ctx: Context, node: Any, example: Any, model_inputs: list[Any]) -> TV:
    shape = tuple(int(d) for d in example.shape)
    if len(shape) < 1:
        raise ctx.refuse("a scalar input")
    dtype = "float32" if example.is_floating_point() else "int32"
    if example.is_floating_point() and str(example.dtype) != "torch.float32":
        raise ctx.refuse(f"an input of dtype {example.dtype} (only float32 and integers)")
    rank = len(shape)
    image = rank in (4, 5) and not ctx.keep_input_layout
    perm = ctx.spatial_perm(rank) if image else identity(rank)
    keras_shape = [shape[p] for p in perm]
    tensor = Input(shape=keras_shape[1:], dtype=dtype, name=str(node.target))
    model_inputs.append(tensor)
    return TV(tensor, perm, shape)


def _output(ctx: Context, value: Any) -> Any:
    if not isinstance(value, TV):
        raise ctx.refuse(f"a model output that is not a tensor ({type(value).__name__})")
    image = value.rank in (4, 5) and not ctx.keep_input_layout
    perm = ctx.spatial_perm(value.rank) if image else identity(value.rank)
    return ctx.permute(value, perm).tensor


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]
