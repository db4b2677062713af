"""Legacy Keras HDF5 (``.h5``): ``save``/``load`` full models, ``save_weights``/``load_weights``.

The file layout is described in :mod:`.layout`; what each target gives tf_keras 2.x and Keras 3
in :mod:`.writer` (``TARGET_NOTES``).
"""

from __future__ import annotations

from .layout import TARGETS
from .reader import load, load_weights
from .writer import TARGET_NOTES, save, save_weights

__all__ = ["TARGETS", "TARGET_NOTES", "load", "load_weights", "save", "save_weights"]
