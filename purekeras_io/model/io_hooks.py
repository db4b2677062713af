"""Where ``Model.save`` / ``save_weights`` / ``load_weights`` find the format writers.

The model description sits below the formats: nothing in ``purekeras_io.model`` imports
``purekeras_io.models`` or a format package. The dispatch layer (:mod:`purekeras_io.models`)
registers its functions here when it is imported, which importing ``purekeras_io`` always does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedFeatureError

__all__ = ["HOOKS", "get", "register"]

HOOKS = ("save_model", "save_weights", "load_weights")
_registered: dict[str, Callable[..., Any]] = {}


def register(**functions: Callable[..., Any]) -> None:
    """Install the functions the model methods call (names from :data:`HOOKS`)."""
    unknown = sorted(set(functions) - set(HOOKS))
    if unknown:
        raise ValueError(f"io_hooks.register: unknown hooks {unknown}; expected some of {HOOKS}")
    _registered.update(functions)


def get(name: str) -> Callable[..., Any]:
    """The registered function for ``name``."""
    try:
        return _registered[name]
    except KeyError:
        raise UnsupportedFeatureError(
            f"Model.{name.removesuffix('_model') or name}: no file writers are registered "
            f"(import purekeras_io first)"
        ) from None
