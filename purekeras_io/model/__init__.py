"""The framework-neutral model description: layers, Sequential and Functional models, configs."""

from __future__ import annotations

from .base import CompileInfo, Model
from .dialect import DIALECTS, Dialect
from .functional import Functional
from .input_layer import Input, InputLayer
from .layer import Layer, UnknownLayer, WeightSpec, register
from .naming import clear_session
from .sequential import Sequential
from .serialize import detect_dialect, model_from_config, serialize_model
from .tensor import KerasTensor, Node
from .variable import Variable

__all__ = [
    "DIALECTS",
    "CompileInfo",
    "Dialect",
    "Functional",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "Model",
    "Node",
    "Sequential",
    "UnknownLayer",
    "Variable",
    "WeightSpec",
    "clear_session",
    "detect_dialect",
    "model_from_config",
    "register",
    "serialize_model",
]
