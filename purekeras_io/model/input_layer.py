"""``InputLayer`` and ``Input``: where a Functional graph starts."""

from __future__ import annotations

from typing import Any

from .dialect import Dialect
from .layer import Layer, register
from .naming import unique_name
from .tensor import KerasTensor, Node

__all__ = ["Input", "InputLayer"]


@register
class InputLayer(Layer):
    """The placeholder layer a Functional model starts from (``batch_shape`` in neutral form)."""

    defaults = {"batch_shape": None, "sparse": False, "ragged": False, "optional": False}

    def __init__(self, shape: Any = None, batch_size: Any = None, **kwargs: Any) -> None:
        for alias in ("batch_input_shape", "input_shape"):
            if alias in kwargs:
                value = kwargs.pop(alias)
                if value is not None:
                    kwargs["batch_shape"] = (
                        list(value) if alias != "input_shape" else [batch_size, *value]
                    )
        if shape is not None and kwargs.get("batch_shape") is None:
            kwargs["batch_shape"] = [batch_size, *tuple(shape)]
        kwargs.pop("trainable", None)
        if not kwargs.get("name"):
            kwargs["name"] = unique_name("input_layer")
        super().__init__(**kwargs)
        self.config.pop("trainable", None)
        shape_ = self.config.get("batch_shape")
        self.config["batch_shape"] = (
            None if shape_ is None else [None if d is None else int(d) for d in shape_]
        )
        node = Node(self, (), {})
        dtype = str(self.config.get("dtype") or "float32")
        node.outputs = [
            KerasTensor(
                tuple(self.config["batch_shape"] or (None,)),
                dtype,
                (self, 0, 0),
                sparse=bool(self.config.get("sparse")),
            )
        ]
        self.inbound_nodes.append(node)
        self.built = True

    @property
    def output(self) -> KerasTensor:
        return self.inbound_nodes[0].outputs[0]

    def render_config(self, config: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
        # InputLayer writes a plain dtype string in both generations.
        config["dtype"] = self.config.get("dtype")
        shape = config.pop("batch_shape")
        key = "batch_input_shape" if dialect == "keras2" else "batch_shape"
        out = {key: shape}
        out.update(config)
        ordered = [key, "dtype", "sparse", "ragged", "name", "optional"]
        return {k: out[k] for k in ordered if k in out} | {
            k: v for k, v in out.items() if k not in ordered
        }

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        return inputs


def Input(
    shape: Any = None,
    batch_size: int | None = None,
    name: str | None = None,
    dtype: str | None = None,
    sparse: bool = False,
    batch_shape: Any = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """A symbolic input, as ``keras.Input``."""
    if batch_shape is None:
        if shape is None:
            raise TypeError("Input: give `shape` (without the batch size) or `batch_shape`")
        batch_shape = [batch_size, *tuple(shape)]
    layer = InputLayer(
        batch_shape=list(batch_shape),
        name=name,
        dtype=dtype or "float32",
        sparse=sparse,
        optional=optional,
    )
    return layer.output
