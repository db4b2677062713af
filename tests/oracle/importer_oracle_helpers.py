"""What the importer oracles (torch, flax) share: the verdict on one real loader's result.

The test modules import this by plain name (``from importer_oracle_helpers import ...``), as they
do ``layer_oracle_helpers``."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["check_loaded"]


def check_loaded(
    result: dict[str, Any], key: tuple[str, str], cannot: dict[tuple[str, str], str],
    tolerance: float,
) -> None:
    """``result`` (``{"rel": …}`` or ``{"error": …}``) of loader ``key[1]`` on model ``key[0]``:
    an expected refusal (``cannot``) is an xfail, and must still fail; otherwise the relative
    error is below ``tolerance``."""
    if key in cannot:
        assert "error" in result, f"{key[1]} now loads {key[0]}: drop it from CANNOT"
        pytest.xfail(cannot[key])
    assert "error" not in result, result.get("error")
    assert result["rel"] < tolerance, result
