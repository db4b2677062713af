"""``Model``: what Sequential and Functional share: layers, weights, compile information, I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from . import io_hooks
from .dialect import Dialect, check_dialect
from .layer import Layer
from .variable import Variable

if TYPE_CHECKING:
    from ..optimizers import Optimizer

__all__ = ["CompileInfo", "Model"]


@dataclass
class CompileInfo:
    """What ``compile`` recorded: loss, metrics, weights and the optimizer (with its state)."""

    optimizer: Optimizer | None = None
    loss: Any = None
    metrics: Any = None
    loss_weights: Any = None
    weighted_metrics: Any = None
    run_eagerly: bool = False
    steps_per_execution: int = 1
    jit_compile: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Model(Layer):
    """Base of Sequential and Functional models (a model is also a layer)."""

    module = "keras"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.compile_info: CompileInfo | None = None

    # ------------------------------------------------------------------ structure

    @property
    def layers(self) -> list[Layer]:
        raise NotImplementedError

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in ``model.layers``."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ConfigError(
                    f"get_layer: index {index} out of range for {len(self.layers)} layers"
                )
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError(
            f"get_layer: no layer named {name!r}; layers: {[la.name for la in self.layers]}"
        )

    def iter_layers(self) -> Iterator[Layer]:
        """This model and every layer inside it, depth first."""
        yield self
        for layer in self.layers:
            yield from layer.iter_layers()

    # ------------------------------------------------------------------ weights

    @property
    def weights(self) -> list[Variable]:
        """Every weight, layer by layer in ``model.layers`` order (shared weights once)."""
        seen: set[int] = set()
        out: list[Variable] = []
        for layer in self.layers:
            for var in layer.weights:
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        seen: set[int] = set()
        out: list[Variable] = []
        for layer in self.layers:
            for var in layer.trainable_weights:
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
        return out

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    # ------------------------------------------------------------------ training setup

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = False,
        **kwargs: Any,
    ) -> None:
        """Record compile information; ``optimizer`` may be a name, a config or an optimizer."""
        from .. import optimizers

        self.compile_info = CompileInfo(
            optimizer=optimizers.get(optimizer) if optimizer is not None else None,
            loss=loss,
            metrics=metrics,
            loss_weights=loss_weights,
            weighted_metrics=weighted_metrics,
            run_eagerly=bool(run_eagerly),
            steps_per_execution=int(steps_per_execution),
            jit_compile=bool(jit_compile) if jit_compile != "auto" else False,
            extra=dict(kwargs),
        )

    @property
    def optimizer(self) -> Optimizer | None:
        return self.compile_info.optimizer if self.compile_info else None

    @property
    def compiled(self) -> bool:
        return self.compile_info is not None

    # ------------------------------------------------------------------ inference

    def predict(
        self, x: Any, batch_size: int | None = None, verbose: Any = 0, **kwargs: Any
    ) -> Any:
        """NumPy reference forward pass in inference mode, batch by batch."""
        if batch_size is None:
            return self.call(x)
        first = (
            x
            if not isinstance(x, (list, tuple, dict))
            else next(iter(x.values() if isinstance(x, dict) else x))
        )
        n = len(first)
        parts = []
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            if isinstance(x, dict):
                chunk: Any = {k: v[sl] for k, v in x.items()}
            elif isinstance(x, (list, tuple)):
                chunk = [v[sl] for v in x]
            else:
                chunk = x[sl]
            parts.append(self.call(chunk))
        if isinstance(parts[0], list):
            return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return np.concatenate(parts)

    # ------------------------------------------------------------------ serialization

    def to_json(self, dialect: Dialect = "keras3", **kwargs: Any) -> str:
        """The architecture as ``model.to_json()`` of the given Keras generation writes it."""
        from .serialize import serialize_model

        check_dialect(dialect)
        return json.dumps(serialize_model(self, dialect), **kwargs)

    def save(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        io_hooks.get("save_model")(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath: Any, **kwargs: Any) -> None:
        io_hooks.get("save_weights")(self, filepath, **kwargs)

    def load_weights(self, filepath: Any, **kwargs: Any) -> None:
        io_hooks.get("load_weights")(self, filepath, **kwargs)

    def summary(self, print_fn: Callable[[str], Any] | None = None, line_length: int = 90) -> None:
        """A table of layers, output shapes and parameter counts, as Keras prints it."""
        out = print_fn or print
        out(f'Model: "{self.name}"')
        out("_" * line_length)
        out(f"{'Layer (type)':<40}{'Output Shape':<30}{'Param #':>12}")
        out("=" * line_length)
        for layer in self.layers:
            shape = _output_shape_text(layer)
            label = f"{layer.name} ({layer.class_name()})"
            out(
                f"{label:<40}{shape:<30}{layer.count_params():>12,}"
            )
        out("=" * line_length)
        total = sum(int(np.prod(v.shape)) for v in self.weights)
        trainable = sum(int(np.prod(v.shape)) for v in self.trainable_weights)
        out(f"Total params: {total:,}")
        out(f"Trainable params: {trainable:,}")
        out(f"Non-trainable params: {total - trainable:,}")
        out("_" * line_length)


def _output_shape_text(layer: Layer) -> str:
    if not layer.inbound_nodes or not layer.inbound_nodes[-1].outputs:
        return "?"
    shapes = [t.shape for t in layer.inbound_nodes[-1].outputs]
    return str(shapes[0] if len(shapes) == 1 else shapes)
