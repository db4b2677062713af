"""Flax (linen) parameter trees → the weights of a ``pk`` model.

``assign_flax_params(model, variables)`` takes what ``module.init`` returns (``{"params": ...,
"batch_stats": ...}``, or the ``params`` tree alone; nested dicts / ``FrozenDict`` of arrays, or a
flat dict with ``/``- or ``.``-joined names, such as a safetensors file of
``flax.traverse_util.flatten_dict(variables, sep=".")``). Nothing of jax or flax is imported:
the leaves are only read as arrays.

**Modules are recognised by their parameters**, whatever their names:

=============================  ==================================  ==============================
flax linen                     parameters (shapes)                 our layer's weights
=============================  ==================================  ==============================
Dense                          ``kernel (in, out)``, ``bias``       Dense ``kernel``, ``bias``
Conv (1-3-D)                   ``kernel (*k, in/g, out)``, bias     ConvND ``kernel``, ``bias``
Conv, ``feature_group_count``  ``kernel (*k, 1, c*m)``              DepthwiseConvND
= channels                                                          ``depthwise_kernel (*k, c, m)``
BatchNorm                      ``scale``, ``bias``; batch_stats     ``gamma``, ``beta``,
                               ``mean``, ``var``                    ``moving_mean/variance``
LayerNorm                      ``scale``, ``bias``                  LayerNormalization /
                                                                    GroupNormalization
Embed                          ``embedding (n, d)``                 Embedding ``embeddings``
MultiHeadDotProductAttention   ``query/key/value`` ``kernel         MultiHeadAttention
                               (d, heads, head_dim)``, ``bias``;    (same shapes; ``out`` →
                               ``out kernel (heads, head_dim, d)``  ``attention_output``)
LSTMCell (also in ``nn.RNN``)  ``ii if ig io`` kernels (no bias),   LSTM ``kernel``,
                               ``hi hf hg ho`` kernels and biases   ``recurrent_kernel``, ``bias``
GRUCell (also in ``nn.RNN``)   ``ir iz in`` kernels and biases,     GRU (``reset_after=True``)
                               ``hr hz`` kernels, ``hn`` kernel     ``kernel``,
                               and bias                             ``recurrent_kernel``,
                                                                    ``bias (2, 3u)``
=============================  ==================================  ==============================

Why these are exact: flax and Keras both compute ``x @ kernel + bias`` with ``kernel (in, out)``
and channels-last convolutions with HWIO kernels; flax's attention scales the query by
``1/sqrt(head_dim)`` as Keras' does with ``key_dim = head_dim``; flax's LSTMCell computes
``i = sigmoid(x W_ii + h W_hi + b_hi)``, … ``c' = f c + i g``, ``h' = o tanh(c')``: Keras' LSTM
with the four gates' kernels side by side in the order i, f, c(=g), o and the hidden biases as
the bias. flax's GRUCell computes ``r = sigmoid(x W_ir + b_ir + h W_hr)``, ``z`` alike,
``n = tanh(x W_in + b_in + r (h W_hn + b_hn))``, ``h' = (1 - z) n + z h``: Keras' GRU with
``reset_after=True``, gates in the order z, r, n, input biases ``[b_iz, b_ir, b_in]`` and
recurrent biases ``[0, 0, b_hn]``.

**What names cannot carry**: flax's ``BatchNorm`` epsilon defaults to 1e-5 and ``LayerNorm``'s
to 1e-6, Keras' to 1e-3; the epsilon is not a parameter, so a layer whose epsilon differs from
flax's default gets a note in the report (and a ``UserWarning``): build it with flax's value.
Activations, strides, padding, pooling and flax's ``gelu`` (approximate by default; Keras'
``"gelu"`` is exact) are the model's, not the weights'.

**Matching.** By default the k-th flax module of a kind goes to the k-th layer of that kind in
``model.layers`` order; flax modules are taken in tree order, auto names of one type by their
number (``Dense_2`` before ``Dense_10``, whatever the dict order). ``rules`` instead map flax
module paths (``Block_0/Dense_1``; ``re.fullmatch``, first match wins, ``None`` drops) to our
layer names. Then :func:`~purekeras_io.importers.mapping.assign_weights` checks shapes and
assigns, and its :class:`~purekeras_io.importers.mapping.MatchReport` names sources as
``<module path>/<param>`` (batch statistics as ``batch_stats/<module path>/mean``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError
from .mapping import MatchReport, assign_weights

__all__ = ["FlaxModule", "assign_flax_params", "flax_modules"]

_MHA_PARTS = ("query", "key", "value", "out")
_LSTM_INPUT = ("ii", "if", "ig", "io")
_LSTM_HIDDEN = ("hi", "hf", "hg", "ho")
_GRU_INPUT = ("iz", "ir", "in")  # Keras' gate order: z, r, h
_GRU_HIDDEN = ("hz", "hr", "hn")
_AUTO = re.compile(r"^(?P<type>.+)_(?P<n>\d+)$")

# our class name → the kind of flax module it takes
_KIND_OF_CLASS = {
    "Dense": "Dense",
    "Conv1D": "Conv",
    "Conv2D": "Conv",
    "Conv3D": "Conv",
    "DepthwiseConv1D": "Conv",
    "DepthwiseConv2D": "Conv",
    "BatchNormalization": "BatchNorm",
    "LayerNormalization": "LayerNorm",
    "GroupNormalization": "LayerNorm",
    "Embedding": "Embed",
    "MultiHeadAttention": "MultiHeadDotProductAttention",
    "LSTM": "LSTMCell",
    "GRU": "GRUCell",
}
_COMPOUND = ("MultiHeadDotProductAttention", "LSTMCell", "GRUCell")  # submodules are parts
# flax's epsilon defaults (not stored in the parameters)
_FLAX_EPSILON = {"BatchNorm": 1e-5, "LayerNorm": 1e-6}


@dataclass
class FlaxModule:
    """One flax module found in a parameter tree."""

    path: str
    """``/``-joined names from the tree's root (``Block_0/Dense_1``)."""
    kind: str
    """``Dense``, ``Conv``, ``BatchNorm``, ``LayerNorm``, ``Embed``,
    ``MultiHeadDotProductAttention``, ``LSTMCell`` or ``GRUCell``."""
    params: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


def _is_tree(value: Any) -> bool:
    return isinstance(value, Mapping)


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    sep = "/" if any("/" in k for k in flat) else "."
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        parts = str(key).split(sep)
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"assign_flax_params: {key!r} is both a tensor and a module")
        node[parts[-1]] = value
    return root


def _ordered(names: Iterable[str]) -> list[str]:
    """Names in dict order, except that auto names of one type (``Dense_N``) are put in the
    slots they occupy in order of their number."""
    names = list(names)
    groups: dict[str, list[str]] = {}
    for name in names:
        m = _AUTO.match(name)
        if m:
            groups.setdefault(m["type"], []).append(name)
    queues = {t: sorted(g, key=lambda n: int(_AUTO.match(n)["n"])) for t, g in groups.items()}  # type: ignore[index]
    out = []
    for name in names:
        m = _AUTO.match(name)
        out.append(queues[m["type"]].pop(0) if m else name)
    return out


def _kind(node: Mapping[str, Any], stats: Mapping[str, Any]) -> str | None:
    keys = set(node)
    if all(_is_tree(node.get(p)) and "kernel" in node[p] for p in _MHA_PARTS):
        return "MultiHeadDotProductAttention"
    if all(_is_tree(node.get(p)) and "kernel" in node[p] for p in _LSTM_INPUT + _LSTM_HIDDEN):
        return "LSTMCell"
    if all(_is_tree(node.get(p)) and "kernel" in node[p] for p in _GRU_INPUT + _GRU_HIDDEN):
        return "GRUCell"
    leaves = {k for k in keys if not _is_tree(node[k])}
    if not leaves:
        return None
    if "embedding" in leaves:
        return "Embed"
    if "kernel" in leaves:
        return "Dense" if np.ndim(node["kernel"]) == 2 else "Conv"
    if "mean" in stats and "var" in stats:
        return "BatchNorm"
    if leaves <= {"scale", "bias"}:
        return "LayerNorm"
    return None


def flax_modules(variables: Mapping[str, Any]) -> list[FlaxModule]:
    """The modules of a flax variables tree, in tree order (see the module docstring)."""
    if not _is_tree(variables):
        raise ConfigError(
            f"assign_flax_params: variables must be a dict of parameters, received "
            f"{type(variables).__name__}"
        )
    tree: Mapping[str, Any] = variables
    if not any(_is_tree(v) for v in tree.values()):
        tree = _unflatten(tree)
    if "params" in tree and _is_tree(tree["params"]):
        params, stats = tree["params"], tree.get("batch_stats", {})
    else:
        params, stats = tree, {}
    found: list[FlaxModule] = []

    def walk(node: Mapping[str, Any], node_stats: Mapping[str, Any], path: tuple[str, ...]) -> None:
        kind = _kind(node, node_stats)
        if kind is not None:
            compound = kind in _COMPOUND
            leaves = {k: v for k, v in node.items() if compound or not _is_tree(v)}
            found.append(FlaxModule("/".join(path), kind, dict(leaves), dict(node_stats)))
            if compound:
                return
        for name in _ordered(node):
            child = node[name]
            if _is_tree(child):
                sub = node_stats.get(name, {}) if _is_tree(node_stats) else {}
                walk(child, sub if _is_tree(sub) else {}, (*path, name))

    walk(params, stats if _is_tree(stats) else {}, ())
    return found


def _arr(value: Any) -> Any:
    """A leaf as an array-like: lazy arrays (with shape and dtype) stay as they are."""
    return value if hasattr(value, "shape") and hasattr(value, "dtype") else np.asarray(value)


def _converted(module: FlaxModule, layer: Any) -> list[tuple[str, Any, str]]:
    """(source name, array, our weight role) of one module for one of our layers."""
    p, path = module.params, module.path
    src = (lambda name: f"{path}/{name}") if path else (lambda name: name)
    out: list[tuple[str, Any, str]] = []
    if module.kind in ("Dense", "Conv"):
        kernel = _arr(p["kernel"])
        if layer.class_name().startswith("Depthwise"):
            shape = tuple(int(d) for d in kernel.shape)
            channels = int(layer.weights[0].shape[-2])
            if shape[-2] != 1 or shape[-1] % channels:
                raise ConfigError(
                    f"assign_flax_params: {path!r} kernel {list(shape)} is not a depthwise kernel "
                    f"(*k, 1, {channels}*m) for {layer.name!r}"
                )
            kernel = np.asarray(kernel).reshape(*shape[:-2], channels, shape[-1] // channels)
            out.append((src("kernel"), kernel, "depthwise_kernel"))
        else:
            out.append((src("kernel"), kernel, "kernel"))
        if "bias" in p:
            out.append((src("bias"), _arr(p["bias"]), "bias"))
    elif module.kind in ("BatchNorm", "LayerNorm"):
        for ours, theirs in (("gamma", "scale"), ("beta", "bias")):
            if theirs in p:
                out.append((src(theirs), _arr(p[theirs]), ours))
        for ours, theirs in (("moving_mean", "mean"), ("moving_variance", "var")):
            if theirs in module.stats:
                out.append((f"batch_stats/{src(theirs)}", _arr(module.stats[theirs]), ours))
    elif module.kind == "Embed":
        out.append((src("embedding"), _arr(p["embedding"]), "embeddings"))
    elif module.kind == "MultiHeadDotProductAttention":
        for part in _MHA_PARTS:
            ours = "attention_output" if part == "out" else part
            for name, value in p[part].items():
                out.append((src(f"{part}/{name}"), _arr(value), f"{ours}/{name}"))
    elif module.kind == "LSTMCell":
        def cat(gates: Sequence[str], name: str) -> np.ndarray:
            return np.concatenate([np.asarray(p[g][name]) for g in gates], axis=-1)

        out.append((src("{ii,if,ig,io}/kernel"), cat(_LSTM_INPUT, "kernel"), "kernel"))
        out.append((src("{hi,hf,hg,ho}/kernel"), cat(_LSTM_HIDDEN, "kernel"), "recurrent_kernel"))
        if all("bias" in p[g] for g in _LSTM_HIDDEN):
            out.append((src("{hi,hf,hg,ho}/bias"), cat(_LSTM_HIDDEN, "bias"), "bias"))
    elif module.kind == "GRUCell":
        def gru_cat(gates: Sequence[str], name: str) -> np.ndarray:
            units = np.shape(p[gates[0]]["kernel"])[-1]
            return np.concatenate([
                np.asarray(p[g][name]) if name in p[g] else np.zeros((units,), np.float32)
                for g in gates
            ], axis=-1)

        out.append((src("{iz,ir,in}/kernel"), gru_cat(_GRU_INPUT, "kernel"), "kernel"))
        out.append((src("{hz,hr,hn}/kernel"), gru_cat(_GRU_HIDDEN, "kernel"), "recurrent_kernel"))
        bias = np.stack([gru_cat(_GRU_INPUT, "bias"), gru_cat(_GRU_HIDDEN, "bias")])
        out.append((src("{iz,ir,in,hn}/bias"), bias, "bias"))
    return out


def _target(layer: Any, role: str) -> str:
    for var in layer.weights:
        path = var.path or var.name
        if path == f"{layer.name}/{role}" or path.endswith(f"/{role}"):
            return str(path)
    return f"{layer.name}/{role}"


def _our_layers(model: Any) -> list[Any]:
    out = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and not hasattr(layer, "cell"):  # a nested model
            out.extend(_our_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def _pairs(
    modules: list[FlaxModule], layers: list[Any], rules: Any
) -> tuple[list[tuple[FlaxModule, Any]], list[FlaxModule]]:
    pairs: list[tuple[FlaxModule, Any]] = []
    left: list[FlaxModule] = []
    if rules is None:
        queues: dict[str, list[Any]] = {}
        for layer in layers:
            kind = _KIND_OF_CLASS.get(layer.class_name())
            if kind is not None:
                queues.setdefault(kind, []).append(layer)
        for module in modules:
            queue = queues.get(module.kind)
            if queue:
                pairs.append((module, queue.pop(0)))
            else:
                left.append(module)
        return pairs, left
    by_name = {layer.name: layer for layer in layers}
    items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    compiled = []
    for i, rule in enumerate(items):
        if not isinstance(rule, tuple | list) or len(rule) != 2:
            raise ConfigError(
                f"assign_flax_params: rules[{i}] must be (module path pattern, layer name), "
                f"received {rule!r}"
            )
        try:
            compiled.append((re.compile(rule[0]), rule[1]))
        except (re.error, TypeError) as exc:
            raise ConfigError(
                f"assign_flax_params: rules[{i}] pattern {rule[0]!r}: {exc}"
            ) from None
    for module in modules:
        for pattern, replacement in compiled:
            m = pattern.fullmatch(module.path)
            if m is None:
                continue
            if replacement is not None:
                name = m.expand(replacement)
                if name not in by_name:
                    raise ConfigError(
                        f"assign_flax_params: rule {pattern.pattern!r} maps {module.path!r} to "
                        f"{name!r}, not a layer with weights; layers: {', '.join(by_name)}"
                    )
                pairs.append((module, by_name[name]))
            break
        else:
            left.append(module)
    return pairs, left


def _epsilon_note(module: FlaxModule, layer: Any) -> str | None:
    default = _FLAX_EPSILON.get(module.kind)
    if default is None:
        return None
    eps = layer.get_config().get("epsilon")
    if eps is None or abs(float(eps) - default) <= 1e-12:
        return None
    return (
        f"{layer.name!r} ({layer.class_name()}) has epsilon={eps}; flax {module.kind}'s default "
        f"is {default:g}: unless {module.path or 'the module'!r} set another, build the layer "
        f"with epsilon={default:g}"
    )


def assign_flax_params(
    model: Any,
    variables: Mapping[str, Any],
    *,
    rules: Sequence[tuple[str, str | None]] | Mapping[str, str | None] | None = None,
    strict: bool = False,
    dry_run: bool = False,
    warn: bool = True,
) -> MatchReport:
    """Assign a flax linen variables tree to ``model`` (see the module docstring) and return the
    :class:`~purekeras_io.importers.mapping.MatchReport`. ``strict``: raise
    :class:`~purekeras_io.errors.ConfigError` when a model weight or a flax parameter is left
    over (shape mismatches always raise; nothing is assigned then). ``warn``: also issue the
    report's notes (epsilon defaults) as ``UserWarning``."""
    modules = flax_modules(variables)
    pairs, left = _pairs(modules, _our_layers(model), rules)
    tensors: dict[str, Any] = {}
    name_rules: list[tuple[str, str | None]] = []
    notes: list[str] = []
    for module, layer in pairs:
        for source, array, role in _converted(module, layer):
            tensors[source] = array
            name_rules.append((re.escape(source), _target(layer, role)))
        note = _epsilon_note(module, layer)
        if note is not None:
            notes.append(note)
    for module in left:
        for source, array, _ in _converted(module, _Nothing()):
            tensors[source] = array
            name_rules.append((re.escape(source), f"<no layer for flax {module.kind}>/{source}"))
    report = assign_weights(model, tensors, name_rules, strict=strict, dry_run=dry_run)
    if warn:
        for note in notes:
            warnings.warn(f"assign_flax_params: {note}", UserWarning, stacklevel=2)
    return replace(report, notes=tuple(notes))


class _Nothing:
    """Stands for "no layer" when a left-over module's tensors are listed."""

    name = ""
    weights: list[Any] = []

    def class_name(self) -> str:
        return ""
