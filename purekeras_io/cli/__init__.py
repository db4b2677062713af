"""The ``purekeras`` command line: ``inspect``, ``convert``, ``diff``, ``verify``, ``plot``.

Built on the library's own readers and writers; one module per verb (``inspect_cmd``,
``convert``, ``diff``, ``verify``, ``plot``), format detection from content in :mod:`.detect`,
the dispatcher and error handling in :mod:`.main`.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
