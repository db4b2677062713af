"""Our protobuf schemas (``protos/``) against TensorFlow 2.21's and tf_keras's own descriptors.

Every message, field and enum value must agree in name, number, type, label, referenced type,
oneof, presence and packing; see ``tests/oracle/scripts/proto_drift.py`` for the full list. Our
descriptors are sent as data (the oracle venv cannot import purekeras_io). On a difference: fix
the ``.proto`` under ``protos/``, run ``python3 tools/gen_protos.py``, update
``protos/SOURCES.md`` (see there).
"""

from __future__ import annotations

import base64
import importlib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_PACKAGE = ROOT / "purekeras_io" / "_proto"


def _our_file_descriptors() -> list[str]:
    blobs = []
    for path in sorted(PROTO_PACKAGE.rglob("*_pb2.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        blobs.append(
            base64.b64encode(importlib.import_module(module).DESCRIPTOR.serialized_pb).decode()
        )
    return blobs


@pytest.fixture(scope="module")
def drift(oracle: Any) -> dict[str, Any]:
    result: dict[str, Any] = oracle.run("proto_drift", {"files": _our_file_descriptors()})
    return result


@pytest.mark.oracle
def test_oracle_is_tf_2_21(drift: dict[str, Any]) -> None:
    assert drift["tf_version"].startswith("2.21."), drift["tf_version"]


@pytest.mark.oracle
def test_no_schema_drift(drift: dict[str, Any]) -> None:
    assert drift["differences"] == [], "\n".join(drift["differences"])


@pytest.mark.oracle
def test_real_tf_files_parse_with_our_classes(drift: dict[str, Any]) -> None:
    """saved_model.pb, fingerprint.pb, keras_metadata.pb and the checkpoint object graph written
    by TF 2.21 / tf_keras parse with our classes (loaded next to TF's in one descriptor pool)
    without unknown fields; any problem is listed under ``differences`` as ``wire:``."""
    assert len(drift["wire_checked"]) == 4, drift["wire_checked"]


@pytest.mark.oracle
def test_the_whole_closure_was_compared(drift: dict[str, Any]) -> None:
    counts = drift["compared"]
    # Lower bounds only guard against a comparison that silently compared (almost) nothing.
    assert counts["messages"] >= 100, counts
    assert counts["enums"] >= 8, counts
    assert counts["fields"] >= 300, counts
    assert counts["enum_values"] >= 100, counts
    bases = {name.rsplit("/", 1)[-1] for name in drift["tf_files"]}
    for needed in (
        "saved_model.proto",
        "tensor_bundle.proto",
        "trackable_object_graph.proto",
        "fingerprint.proto",
        "checkpoint_state.proto",
        "saved_metadata.proto",
    ):
        assert needed in bases
