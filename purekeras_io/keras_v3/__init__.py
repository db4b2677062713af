"""The Keras v3 native format (``.keras``): ``save``/``load``, ``save_weights``/``load_weights``.

Archive layout and weights-tree rules: :mod:`.layout`; the streaming STORED zip writer:
:mod:`.zipstream`; the HDF5 image built without copying tensors: :mod:`.h5image`.
"""

from __future__ import annotations

from .layout import CONFIG_MEMBER, MEMBER_ORDER, METADATA_MEMBER, WEIGHTS_MEMBER
from .reader import load, load_weights, read_archive
from .writer import save, save_weights

__all__ = [
    "CONFIG_MEMBER",
    "MEMBER_ORDER",
    "METADATA_MEMBER",
    "WEIGHTS_MEMBER",
    "load",
    "load_weights",
    "read_archive",
    "save",
    "save_weights",
]
