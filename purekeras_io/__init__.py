"""purekeras_io: Keras and TensorFlow model files without TensorFlow.

The Keras API, unchanged: ``pk.Sequential``, ``pk.Model``, ``pk.Input``, ``pk.layers.*``,
``pk.optimizers.*``, ``pk.models.save_model`` / ``load_model`` / ``model_from_json``.
"""

from __future__ import annotations

from . import activations, dtypes, errors, importers, initializers, layers, models, optimizers
from .errors import (
    ChecksumError,
    ConfigError,
    FileExistsRefusedError,
    FormatError,
    PurekerasError,
    TargetCompatibilityError,
    UnknownLayerError,
    UnsupportedDtypeError,
    UnsupportedFeatureError,
)
from .model import Functional, Input, InputLayer, KerasTensor, Layer, Sequential, clear_session
from .model import Functional as Model
from .models import load_model, model_from_config, model_from_json, save_model

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "ConfigError",
    "FileExistsRefusedError",
    "FormatError",
    "Functional",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "Model",
    "PurekerasError",
    "Sequential",
    "TargetCompatibilityError",
    "UnknownLayerError",
    "UnsupportedDtypeError",
    "UnsupportedFeatureError",
    "__version__",
    "activations",
    "clear_session",
    "dtypes",
    "errors",
    "importers",
    "initializers",
    "layers",
    "load_model",
    "model_from_config",
    "model_from_json",
    "models",
    "optimizers",
    "save_model",
]
