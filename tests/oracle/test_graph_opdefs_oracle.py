"""Every op the graph builder can emit is defined as TensorFlow 2.21 defines it.

Our table (``purekeras_io/graph/opdefs.py``, plus the ops lowering families add) is rendered as
the ``stripped_op_list`` we write, and compared op by op with TensorFlow's registry
(``scripts/opdefs_check.py``): argument names and types, attributes, defaults, minimums,
statefulness. A wrong argument name would make every reference ``node:<arg>:0`` to it dangle.
"""

from __future__ import annotations

from typing import Any

import pytest

import purekeras_io.lowering  # noqa: F401  (families add their ops when imported)
from purekeras_io.graph import opdefs

pytestmark = pytest.mark.oracle


def test_op_table_matches_tensorflow(oracle: Any) -> None:
    ops = opdefs.known_ops()
    result = oracle.run("opdefs_check", {"op_list": opdefs.op_list(ops).SerializeToString().hex()})
    assert result["checked"] == len(ops)
    assert not result["missing"], result["missing"]
    assert not result["different"], result["different"]
