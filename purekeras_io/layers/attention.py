"""Attention layers: MultiHeadAttention (and the EinsumDense it is made of), Attention,
AdditiveAttention.

Format and behaviour facts (tf_keras 2.21 and Keras 3.15.1, read from their sources and checked
by ``tests/oracle/test_layers_rnn_attention_oracle.py``):

* **MultiHeadAttention** holds four EinsumDense sub-layers named ``query``, ``key``, ``value``,
  ``attention_output`` (Keras 3 with ``use_gate`` adds ``gate`` after ``key``), each with
  ``kernel`` then ``bias``; ``get_weights()`` order is that order in both generations. Names:
  tf_keras ``mha/query/kernel:0``, Keras 3 path ``mha/query/kernel``. In the ``.keras`` weights
  tree Keras 3 files them under ``query_dense``, ``key_dense``, ``value_dense``,
  ``output_dense`` (+ empty ``_softmax``, ``_dropout_layer``); tf_keras under ``_query_dense``,
  ``_key_dense``, ``_value_dense``, ``_output_dense`` (+ the same two empty groups).
* Config: tf_keras writes ``query_shape``, ``key_shape``, ``value_shape`` and
  ``softmax_robust_masking`` (Keras 3 refuses them; tf_keras's ``from_config`` needs the three
  shapes, else it raises ``KeyError``) and ``build_config = {"input_shape": query_shape}``.
  Keras 3 writes ``use_gate``, ``sliding_window``, ``seed`` (tf_keras refuses ``use_gate``) and
  ``build_config = {"shapes_dict": {"query_shape", "value_shape"[, "key_shape"]}}``. Both write
  ``value_dim`` and ``attention_axes`` resolved after building (``value_dim = key_dim``,
  ``attention_axes = [1]`` for 3-D inputs).
* Call ``mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
  use_causal_mask=False)``. Functional configs: tf_keras keeps the query as the node input and
  every other argument as a kwarg (``{"value": ["x", 0, 0]}``); Keras 3 writes the positional
  arguments as given (``"args": [q, v]``).
* Masks: the query's, value's and key's Keras masks and the causal mask are ANDed into the
  attention mask (query ``[B,T,1]``, value/key ``[B,1,S]``). Masked scores: tf_keras adds
  ``-1e9 * (1 - mask)`` (``softmax_robust_masking``: replaces them with -1e9); Keras 3 replaces
  them with a large negative number. A fully masked row (a masked query position) then gets a
  uniform distribution, except in Keras 3's explicit-softmax path (dropout > 0, attention scores
  returned, or inputs of rank > 3) which zeroes it. The output mask is the query's mask.
* **Attention** / **AdditiveAttention** take ``[query, value(, key)]``; masks ``[q_mask, v_mask]``;
  masked scores get ``-1e9``; output rows of masked queries are zeroed; output mask = q_mask.
  Weights: Attention ``scale`` () if ``use_scale``, ``concat_score_weight`` () if
  ``score_mode="concat"`` (both ones); AdditiveAttention ``scale`` (dim,) if ``use_scale``.
  Keras 3 adds ``seed`` to their configs.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any, ClassVar

import numpy as np

from .. import activations
from ..errors import ConfigError
from ..model.dialect import Dialect
from ..model.layer import Layer, WeightSpec, register
from ..model.tensor import KerasTensor, Node, shape_of
from ..model.variable import Variable
from .rnn import set_weight_paths

__all__ = ["AdditiveAttention", "Attention", "EinsumDense", "MultiHeadAttention"]

_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
_ZEROS = {"class_name": "Zeros", "config": {}}
_LARGE_NEGATIVE = -1e9
_K3_FUSED_NEGATIVE = 3.38953e38 * -0.7  # Keras 3 TF backend ``_get_large_negative`` (float32)


# ============================================================================ EinsumDense


def _analyze_einsum(
    equation: str, bias_axes: str | None, input_shape: tuple[Any, ...], output_shape: Any
) -> tuple[list[Any], list[Any] | None, list[Any]]:
    """Kernel shape, bias shape and full output shape of an EinsumDense (Keras' own analysis)."""
    text = re.sub(r"\.\.\.", "0", equation)
    left_elided = False
    match = re.match(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", text)
    if not match:
        match = re.match(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", text)
        left_elided = match is not None
    if not match:
        match = re.match(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", text)
    if not match:
        raise ConfigError(
            f"EinsumDense: invalid equation {equation!r}; expected [X],[Y]->[Z], "
            "...[X],[Y]->...[Z] or [X]...,[Y]->[Z]..."
        )
    input_spec, weight_spec, output_spec = match.group(1), match.group(2), match.group(3)
    elided = len(input_shape) - len(input_spec)
    out = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    out.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            out.insert(1, input_shape[i])
    elif elided > 0:
        out.extend(input_shape[len(input_shape) - elided :])
    if left_elided:
        in_map = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        out_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        in_map = {d: i for i, d in enumerate(input_spec)}
        out_map = {d: i for i, d in enumerate(output_spec)}
    for d in input_spec:
        if d in out_map:
            if out[out_map[d]] is None:
                out[out_map[d]] = input_shape[in_map[d]]
            elif input_shape[in_map[d]] is not None and out[out_map[d]] != input_shape[in_map[d]]:
                raise ConfigError(
                    f"EinsumDense {equation!r}: input and output shapes differ at dimension "
                    f"{d!r}: {input_shape[in_map[d]]} vs {out[out_map[d]]}"
                )
    kernel: list[Any] = []
    for d in weight_spec:
        if d in in_map:
            kernel.append(input_shape[in_map[d]])
        elif d in out_map:
            kernel.append(out[out_map[d]])
        else:
            raise ConfigError(
                f"EinsumDense {equation!r}: weight dimension {d!r} is in neither the input nor "
                "the output spec"
            )
    bias: list[Any] | None = None
    if bias_axes:
        offset = elided if left_elided else 0
        sizes = {c: out[i + offset] for i, c in enumerate(output_spec)}
        for c in bias_axes:
            if c not in output_spec:
                raise ConfigError(
                    f"EinsumDense {equation!r}: bias axis {c!r} is not in the output spec"
                )
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias.extend([1] * elided)
    return kernel, bias, out


@register
class EinsumDense(Layer):
    """``activation(einsum(equation, x, kernel) + bias)``."""

    defaults = {
        "equation": None,
        "output_shape": None,
        "activation": "linear",
        "bias_axes": None,
        "kernel_initializer": _GLOROT,
        "bias_initializer": _ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    keras3_only = ("quantization_config", "lora_rank", "lora_alpha", "gptq_unpacked_column_size")

    def __init__(
        self, equation: str | None = None, output_shape: Any = None, **kwargs: Any
    ) -> None:
        if equation is not None:
            kwargs["equation"] = equation
        if output_shape is not None:
            kwargs["output_shape"] = output_shape
        if kwargs.get("activation") is None:
            kwargs["activation"] = "linear"
        super().__init__(**kwargs)
        if not self.config.get("equation"):
            raise ConfigError("EinsumDense: argument 'equation' is required")
        shape = self.config.get("output_shape")
        if isinstance(shape, tuple):
            self.config["output_shape"] = list(shape)

    def _analysis(self, input_shape: Any) -> tuple[list[Any], list[Any] | None, list[Any]]:
        shape = self.config["output_shape"]
        return _analyze_einsum(
            self.config["equation"],
            self.config.get("bias_axes"),
            tuple(input_shape),
            [] if shape is None else shape,
        )

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        kernel, bias, _ = self._analysis(input_shape)
        specs = [
            WeightSpec("kernel", tuple(int(d) for d in kernel), self.config["kernel_initializer"])
        ]
        if bias is not None:
            specs.append(
                WeightSpec("bias", tuple(int(d) for d in bias), self.config["bias_initializer"])
            )
        return specs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(self._analysis(input_shape)[2])

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        x = np.asarray(inputs)
        kernel = self._variables[0].value
        y = np.einsum(self.config["equation"], x.astype(kernel.dtype), kernel)
        if len(self._variables) > 1:
            y = y + self._variables[1].value
        return activations.get(self.config["activation"], self.source_dialect)(
            y.astype(kernel.dtype)
        )


def _proj_equation(free_dims: int, bound_dims: int, output_dims: int) -> tuple[str, str, int]:
    """Keras' ``_build_proj_equation``: (equation, bias axes, output rank)."""
    letters = string.ascii_lowercase
    inp = out = kern = bias = ""
    for i in range(free_dims):
        inp += letters[i]
        out += letters[i]
    offset = free_dims
    for i in range(bound_dims):
        inp += letters[offset + i]
        kern += letters[offset + i]
    offset += bound_dims
    for i in range(output_dims):
        kern += letters[offset + i]
        out += letters[offset + i]
        bias += letters[offset + i]
    return f"{inp},{kern}->{out}", bias, len(out)


def _attention_equations(rank: int, attn_axes: tuple[int, ...]) -> tuple[str, str, int]:
    """Keras' ``_build_attention_equation``: (dot product, combine, scores rank)."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = tuple(i for i in range(rank) if i not in (*attn_axes, rank - 1))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join(
        [target[i] for i in batch_dims]
        + [target[i] for i in attn_axes]
        + [source[i] for i in attn_axes]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


# ============================================================================ MultiHeadAttention

_MHA_ARGS = (
    "query",
    "value",
    "key",
    "attention_mask",
    "return_attention_scores",
    "training",
    "use_causal_mask",
)


@register
class MultiHeadAttention(Layer):
    """Multi-head dot-product attention over projected query, key and value."""

    defaults = {
        "num_heads": None,
        "key_dim": None,
        "value_dim": None,
        "dropout": 0.0,
        "use_bias": True,
        "output_shape": None,
        "attention_axes": None,
        "kernel_initializer": _GLOROT,
        "bias_initializer": _ZEROS,
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "use_gate": False,
        "sliding_window": None,
        "seed": None,
    }
    keras2_only = {"query_shape": None, "key_shape": None, "value_shape": None}
    keras3_only = ("use_gate", "sliding_window", "seed", "flash_attention")
    supports_masking = True
    argument_masks: ClassVar[bool] = True
    """The Functional forward pass passes ``value_mask`` / ``key_mask`` (Keras 3's convention)."""

    # tf_keras attribute names of the sub-layers in the ``.keras`` weights tree.
    KERAS2_TREE_NAMES: ClassVar[dict[str, str]] = {
        "query_dense": "_query_dense",
        "key_dense": "_key_dense",
        "gate_dense": "_gate_dense",
        "value_dense": "_value_dense",
        "output_dense": "_output_dense",
    }

    def __init__(
        self, num_heads: int | None = None, key_dim: int | None = None, **kwargs: Any
    ) -> None:
        if num_heads is not None:
            kwargs["num_heads"] = num_heads
        if key_dim is not None:
            kwargs["key_dim"] = key_dim
        shapes = {k: kwargs.pop(k, None) for k in ("query_shape", "key_shape", "value_shape")}
        self._robust_masking = bool(kwargs.pop("softmax_robust_masking", False))
        super().__init__(**kwargs)
        for key in ("num_heads", "key_dim"):
            value = self.config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    f"MultiHeadAttention: {key!r} must be a positive integer, received {value!r}"
                )
        if isinstance(self.config.get("output_shape"), tuple):
            self.config["output_shape"] = list(self.config["output_shape"])
        if isinstance(self.config.get("attention_axes"), int):
            self.config["attention_axes"] = [self.config["attention_axes"]]
        self._dense: dict[str, EinsumDense] = {}
        self._shapes: dict[str, tuple[Any, ...]] = {}
        if shapes["query_shape"] is not None and shapes["value_shape"] is not None:
            # tf_keras records key_shape = value_shape when no key was given.
            if shapes["key_shape"] == shapes["value_shape"]:
                shapes.pop("key_shape")
            self.build(shapes)

    @classmethod
    def call_arg_names(cls) -> tuple[str, ...]:
        return _MHA_ARGS

    # ------------------------------------------------------------------ config

    @property
    def value_dim(self) -> int:
        return int(self.config.get("value_dim") or self.config["key_dim"])

    def _attention_axes(self) -> tuple[int, ...]:
        rank = len(self._shapes["query_shape"]) + 1
        axes = self.config.get("attention_axes")
        if axes is None:
            return tuple(range(1, rank - 2))
        return tuple(a if a >= 0 else (rank - 1) + a for a in axes)

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        config["value_dim"] = self.value_dim
        if self._shapes:
            config["attention_axes"] = list(self._attention_axes())
        if dialect == "keras2":
            if config.get("use_gate"):
                raise ConfigError(f"layer {self.name!r}: use_gate=True has no tf_keras equivalent")
            for key in ("query_shape", "key_shape", "value_shape"):
                shape = self._shapes.get(key)
                config[key] = None if shape is None else list(shape)
            config["softmax_robust_masking"] = self._robust_masking
        return config

    def build_config(self) -> dict[str, Any] | None:
        if not self._shapes:
            return None
        shapes = {
            "query_shape": list(self._shapes["query_shape"]),
            "value_shape": list(self._shapes["value_shape"]),
        }
        if self._has_key_shape:
            shapes["key_shape"] = list(self._shapes["key_shape"])
        return {"shapes_dict": shapes}

    def serialize_entry(self, entry: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        """tf_keras writes ``build_config = {"input_shape": query_shape}``."""
        if dialect == "keras2" and self._shapes:
            entry["build_config"] = {"input_shape": list(self._shapes["query_shape"])}
        return entry

    # ------------------------------------------------------------------ build

    def sublayers(self) -> dict[str, Layer]:
        return dict(self._dense)

    @property
    def weights(self) -> list[Variable]:
        out = super().weights
        set_weight_paths(self, self.name)
        return out

    def build(self, input_shape: Any) -> None:
        """Build from ``{"query_shape", "value_shape"[, "key_shape"]}`` or ``[q, v(, k)]``."""
        if self.built:
            return
        if isinstance(input_shape, dict):
            query = input_shape.get("query_shape")
            value = input_shape.get("value_shape")
            key = input_shape.get("key_shape")
        elif (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and isinstance(input_shape[0], (list, tuple))
        ):
            query, value = input_shape[0], input_shape[1] if len(input_shape) > 1 else None
            key = input_shape[2] if len(input_shape) > 2 else None
        else:
            raise ConfigError(
                f"MultiHeadAttention {self.name!r}: build needs the query and value shapes, "
                f"received {input_shape!r}"
            )
        if query is None or value is None:
            raise ConfigError(
                f"MultiHeadAttention {self.name!r}: build needs the query and value shapes"
            )
        self._has_key_shape = key is not None
        key = value if key is None else key
        q, v, k = (tuple(None if d is None else int(d) for d in s) for s in (query, value, key))
        if v[1:-1] != k[1:-1]:
            raise ConfigError(
                f"MultiHeadAttention {self.name!r}: value and key must agree except in the last "
                f"dimension; received value {v} and key {k}"
            )
        self._shapes = {"query_shape": q, "value_shape": v, "key_shape": k}
        c = self.config
        heads, key_dim = int(c["num_heads"]), int(c["key_dim"])
        common = {
            "kernel_initializer": c["kernel_initializer"],
            "bias_initializer": c["bias_initializer"],
            "kernel_regularizer": c["kernel_regularizer"],
            "bias_regularizer": c["bias_regularizer"],
            "activity_regularizer": c["activity_regularizer"],
            "kernel_constraint": c["kernel_constraint"],
            "bias_constraint": c["bias_constraint"],
            "dtype": c["dtype"],
            "trainable": c["trainable"],
        }

        def proj(
            name: str, shape: tuple[Any, ...], last: int, activation: str = "linear"
        ) -> EinsumDense:
            eq, bias_axes, out_rank = _proj_equation(len(shape) - 1, 1, 2)
            layer = EinsumDense(
                eq,
                [None] * (out_rank - 1 - 2) + [heads, last],
                bias_axes=bias_axes if c["use_bias"] else None,
                activation=activation,
                name=name,
                _from_config=True,
                _dialect=self.source_dialect,
                **common,
            )
            layer.build(shape)
            return layer

        dense = {"query_dense": proj("query", q, key_dim), "key_dense": proj("key", k, key_dim)}
        if c.get("use_gate"):
            dense["gate_dense"] = proj("gate", q, self.value_dim, "sigmoid")
        dense["value_dense"] = proj("value", v, self.value_dim)
        out_shape = c.get("output_shape")
        if out_shape is None:
            out_dims = [q[-1]]
        else:
            out_dims = [out_shape] if isinstance(out_shape, int) else list(out_shape)
        eq, bias_axes, out_rank = _proj_equation(len(q) - 1, 2, len(out_dims))
        output = EinsumDense(
            eq,
            [None] * (out_rank - 1 - len(out_dims)) + out_dims,
            bias_axes=bias_axes if c["use_bias"] else None,
            name="attention_output",
            _from_config=True,
            _dialect=self.source_dialect,
            **common,
        )
        output.build((*q[:-1], heads, self.value_dim))
        dense["output_dense"] = output
        self._dense = dense
        self.build_input_shape = list(q)
        self.built = True
        set_weight_paths(self, self.name)

    # ------------------------------------------------------------------ calls

    @staticmethod
    def _bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = dict(zip(_MHA_ARGS, args))
        for key, value in kwargs.items():
            if key in bound:
                raise ConfigError(f"MultiHeadAttention: argument {key!r} given twice")
            bound[key] = value
        if bound.get("query") is None or bound.get("value") is None:
            raise ConfigError("MultiHeadAttention: call needs 'query' and 'value'")
        return bound

    def _build_from_call(self, bound: dict[str, Any]) -> None:
        if self.built:
            return
        shapes = {"query_shape": shape_of(bound["query"]), "value_shape": shape_of(bound["value"])}
        if bound.get("key") is not None:
            shapes["key_shape"] = shape_of(bound["key"])
        self.build(shapes)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self._bind(
            args,
            {
                k: v
                for k, v in kwargs.items()
                if not k.endswith("_mask") or k in ("attention_mask", "use_causal_mask")
            },
        )
        self._build_from_call(bound)
        return super().__call__(*args, **kwargs)

    def _call_symbolic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        bound = self._bind(args, kwargs)
        q = tuple(bound["query"].shape)
        shapes = [self.compute_output_shape(q)]
        if bound.get("return_attention_scores"):
            key: Any = bound.get("key")
            if key is None:
                key = bound["value"]
            axes = self._attention_axes()
            k = tuple(key.shape)
            shapes.append(
                (
                    q[0],
                    *[q[i] for i in range(1, len(q) - 1) if i not in axes],
                    int(self.config["num_heads"]),
                    *[q[i] for i in axes],
                    *[k[i] for i in axes],
                )
            )
        return _record_call(self, args, kwargs, shapes)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        if isinstance(shape, dict):
            shape = shape["query_shape"]
        elif isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        shape = tuple(shape)
        out = self.config.get("output_shape")
        if out:
            return (*shape[:-1], *([out] if isinstance(out, int) else out))
        return shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def _causal_mask(self, t: int, s: int) -> np.ndarray:
        return np.tril(np.ones((t, s), dtype=bool))[None]

    def node_arguments(
        self, node: Node, dialect: Dialect
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Keras 3 writes ``value`` positionally (``"args": [q, v]``); tf_keras as a kwarg."""
        args, kwargs = list(node.args), dict(node.kwargs)
        if dialect == "keras3" and len(args) == 1 and "value" in kwargs:
            args.append(kwargs.pop("value"))
        return tuple(args), kwargs

    def call(
        self,
        inputs: Any = None,
        value: Any = None,
        key: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: Any = False,
        use_causal_mask: bool = False,
        *,
        mask: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        **kwargs: Any,
    ) -> Any:
        """``inputs`` is the query (Keras calls it ``query``; accepted as a keyword too)."""
        query = kwargs.pop("query", None) if inputs is None else inputs
        if query is None or value is None:
            raise ConfigError(f"MultiHeadAttention {self.name!r}: call needs 'query' and 'value'")
        q = np.asarray(query)
        v = np.asarray(value)
        k = v if key is None else np.asarray(key)
        if not self.built:
            self.build(
                {
                    "query_shape": q.shape,
                    "value_shape": v.shape,
                    **({"key_shape": k.shape} if key is not None else {}),
                }
            )
        q_mask = mask if mask is not None else query_mask
        dense = self._dense
        dialect = self.source_dialect
        gate = dense["gate_dense"].call(q) if "gate_dense" in dense else None
        pq = dense["query_dense"].call(q)
        pk = dense["key_dense"].call(k)
        pv = dense["value_dense"].call(v)
        # The combined boolean attention mask (None when nothing is masked).
        t, s = q.shape[1], v.shape[1]
        parts: list[np.ndarray] = []
        if q_mask is not None:
            parts.append(np.asarray(q_mask).astype(bool)[:, :, None])
        for m in (value_mask, key_mask):
            if m is not None:
                parts.append(np.asarray(m).astype(bool)[:, None, :])
        if use_causal_mask:
            parts.append(self._causal_mask(t, s))
        if self.config.get("sliding_window") is not None:
            rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
            parts.append((np.abs(rows - cols) < int(self.config["sliding_window"]))[None])
        if attention_mask is not None:
            parts.append(np.asarray(attention_mask).astype(bool))
        combined: np.ndarray | None = None
        for p in parts:
            combined = p if combined is None else combined & p
        axes = self._attention_axes()
        rank = pq.ndim
        dot_eq, combine_eq, scores_rank = _attention_equations(rank, axes)
        dtype = pq.dtype
        scale = np.asarray(1.0 / math.sqrt(float(self.config["key_dim"])), dtype)
        if combined is not None:
            for _ in range(scores_rank - combined.ndim):
                combined = np.expand_dims(combined, axis=-len(axes) * 2 - 1)
        norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        k3_fused = (
            dialect == "keras3"
            and float(self.config["dropout"] or 0) == 0.0
            and not return_attention_scores
            and rank == 4
        )
        if k3_fused:
            scores = np.einsum(dot_eq, pk, pq).astype(dtype) * scale
        else:
            scores = np.einsum(dot_eq, pk, pq * scale).astype(dtype)
        if combined is not None:
            if dialect == "keras2" and not self._robust_masking:
                scores = scores + (1.0 - combined.astype(dtype)) * np.asarray(
                    _LARGE_NEGATIVE, dtype
                )
            elif k3_fused:
                scores = np.where(combined, scores, np.asarray(_K3_FUSED_NEGATIVE, dtype))
            else:
                scores = np.where(combined, scores, np.asarray(_LARGE_NEGATIVE, dtype))
        probs = _softmax(scores.astype(dtype), norm_axes)
        if combined is not None and dialect == "keras3" and not k3_fused:
            probs = np.where(combined, probs, 0.0).astype(dtype)
        out = np.einsum(combine_eq, probs, pv).astype(dtype)
        if gate is not None:
            out = out * gate
        result = dense["output_dense"].call(out)
        if return_attention_scores:
            return [result, probs]
        return result


def _record_call(
    layer: Layer, args: tuple[Any, ...], kwargs: dict[str, Any], shapes: list[tuple[Any, ...]]
) -> Any:
    """Record a symbolic call whose outputs depend on call arguments (attention scores)."""
    node = Node(layer, args, kwargs)
    layer.inbound_nodes.append(node)
    index = len(layer.inbound_nodes) - 1
    node.outputs = [
        KerasTensor(shape, layer.compute_dtype, (layer, index, i)) for i, shape in enumerate(shapes)
    ]
    return list(node.outputs) if len(shapes) > 1 else node.outputs[0]


def _softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    m = np.max(x, axis=axes, keepdims=True)
    e = np.exp(x - m)
    return (e / np.sum(e, axis=axes, keepdims=True)).astype(x.dtype)


# ============================================================================ Attention layers


class _DenseAttention(Layer):
    """Attention over ``[query, value(, key)]`` with masks ``[query_mask, value_mask]``."""

    supports_masking = True
    keras3_only = ("seed",)

    def __init__(self, **kwargs: Any) -> None:
        self._causal = bool(kwargs.pop("causal", False))
        super().__init__(**kwargs)

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        if self._causal and dialect == "keras2":
            config["causal"] = True
        return config

    @staticmethod
    def _shapes(input_shape: Any) -> list[tuple[Any, ...]]:
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) not in (2, 3)
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ConfigError(
                "attention layers must be called on a list [query, value] or [query, value, key]; "
                f"received shape {input_shape!r}"
            )
        return [tuple(s) for s in input_shape]

    def compute_output_shape(self, input_shape: Any) -> Any:
        q, v = self._shapes(input_shape)[:2]
        return (*q[:-1], v[-1])

    def _call_symbolic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not kwargs.get("return_attention_scores"):
            return super()._call_symbolic(args, kwargs)
        shapes = self._shapes(shape_of(args[0]))
        if not self.built:
            self.build(shapes)
        q, k = shapes[0], shapes[-1]
        return _record_call(
            self, args, kwargs, [self.compute_output_shape(shapes), (*q[:-1], k[-2])]
        )

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not mask or mask[0] is None:
            return None
        return mask[0]

    def _scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ConfigError(
                f"{self.class_name()} {self.name!r} must be called on [query, value(, key)]"
            )
        arrays = [np.asarray(a) for a in inputs]
        if not self.built:
            self.build([a.shape for a in arrays])
        q, v = arrays[0], arrays[1]
        k = arrays[2] if len(arrays) > 2 else v
        dtype = q.dtype if q.dtype.kind == "f" else np.dtype(np.float32)
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask and len(mask) > 1 else None
        scores = self._scores(q.astype(dtype), k.astype(dtype)).astype(dtype)
        score_mask: np.ndarray | None = None
        if v_mask is not None:
            score_mask = np.asarray(v_mask).astype(bool)[..., None, :]
        if use_causal_mask or self._causal:
            causal = np.tril(np.ones(scores.shape[-2:], dtype=bool))
            score_mask = causal if score_mask is None else score_mask & causal
        if score_mask is not None:
            scores = scores - np.asarray(1e9, dtype) * (~score_mask).astype(dtype)
        weights = _softmax(scores, (-1,))
        result = np.matmul(weights, v.astype(dtype)).astype(dtype)
        if q_mask is not None:
            result = result * np.asarray(q_mask).astype(dtype)[..., None]
        if return_attention_scores:
            return [result, weights]
        return result


@register
class Attention(_DenseAttention):
    """Dot-product (Luong) attention; ``score_mode="concat"``: ``w * Σ tanh(scale*(q + k))``."""

    defaults = {"use_scale": False, "score_mode": "dot", "dropout": 0.0, "seed": None}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.config["score_mode"] not in ("dot", "concat"):
            raise ConfigError(
                "Attention: score_mode must be 'dot' or 'concat', "
                f"received {self.config['score_mode']!r}"
            )

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        specs = []
        if self.config["use_scale"]:
            specs.append(WeightSpec("scale", (), "ones"))
        if self.config["score_mode"] == "concat":
            specs.append(WeightSpec("concat_score_weight", (), "ones"))
        return specs

    def _weight(self, name: str) -> np.ndarray | None:
        for var in self._variables:
            if var.name == name:
                return var.value
        return None

    def _scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        scale = self._weight("scale")
        if self.config["score_mode"] == "dot":
            scores = np.matmul(q, np.swapaxes(k, -2, -1))
            return scores * scale if scale is not None else scores
        summed = q[..., :, None, :] + k[..., None, :, :]
        if scale is not None:
            summed = scale * summed
        weight = self._weight("concat_score_weight")
        return weight * np.sum(np.tanh(summed), axis=-1)


@register
class AdditiveAttention(_DenseAttention):
    """Additive (Bahdanau) attention: ``Σ scale * tanh(q + k)``."""

    defaults = {"use_scale": True, "dropout": 0.0, "seed": None}

    def weight_specs(self, input_shape: Any) -> list[WeightSpec]:
        if not self.config["use_scale"]:
            return []
        dim = int(self._shapes(input_shape)[1][-1])
        return [WeightSpec("scale", (dim,), "glorot_uniform")]

    def _scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        t = np.tanh(q[..., :, None, :] + k[..., None, :, :])
        if self.config["use_scale"]:
            t = self._variables[0].value * t
        return np.sum(t, axis=-1)
