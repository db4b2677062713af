"""The checked-in ``purekeras_io/_proto`` is exactly what ``tools/gen_protos.py`` generates, and it
never declares anything in TensorFlow's proto package (which would clash with TF in one process)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_PACKAGE = ROOT / "purekeras_io" / "_proto"
OUR_PACKAGES = ("purekeras_io.tf", "purekeras_io.keras")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(".".join(p.relative_to(ROOT).with_suffix("").parts))
        for p in sorted(PROTO_PACKAGE.rglob("*_pb2.py"))
    ]


def test_regenerated_tree_equals_checked_in(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    fresh = _tree(tmp_path / "purekeras_io" / "_proto")
    checked_in = _tree(PROTO_PACKAGE)
    assert sorted(fresh) == sorted(checked_in), "run python3 tools/gen_protos.py"
    stale = [name for name in fresh if fresh[name] != checked_in[name]]
    assert stale == [], f"stale generated files {stale}; run python3 tools/gen_protos.py"


def test_every_schema_has_a_module() -> None:
    schemas = sorted(
        p.relative_to(ROOT / "protos").with_suffix("").as_posix() + "_pb2.py"
        for p in (ROOT / "protos").rglob("*.proto")
    )
    modules = sorted(p.relative_to(ROOT).as_posix() for p in PROTO_PACKAGE.rglob("*_pb2.py"))
    assert schemas == modules
    assert len(modules) >= 20


def test_generated_files_say_do_not_edit() -> None:
    for path in sorted(PROTO_PACKAGE.rglob("*.py*")):
        if "__pycache__" in path.parts:
            continue
        head = "\n".join(path.read_text(encoding="utf-8").splitlines()[:3]).lower()
        assert "do not edit" in head, path


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_tensorflow_package(module: ModuleType) -> None:
    file = module.DESCRIPTOR
    assert file.package in OUR_PACKAGES, (file.name, file.package)
    assert not file.package.startswith("tensorflow")
    assert file.name.startswith("purekeras_io/_proto/"), file.name
    for dep in file.dependencies:
        assert dep.name.startswith(("purekeras_io/_proto/", "google/protobuf/")), dep.name

    def walk_message(desc: Any) -> None:
        assert desc.full_name.startswith(file.package + "."), desc.full_name
        for field in desc.fields:
            ref = field.message_type or field.enum_type
            if ref is not None:
                assert not ref.full_name.startswith("tensorflow"), (desc.full_name, field.name)
        for enum in desc.enum_types:
            assert enum.full_name.startswith(file.package + "."), enum.full_name
        for nested in desc.nested_types:
            walk_message(nested)

    for message in file.message_types_by_name.values():
        walk_message(message)
    for enum in file.enum_types_by_name.values():
        assert enum.full_name.startswith(file.package + "."), enum.full_name


def test_bundle_header_bytes() -> None:
    """A smoke test of the generated code: TF's bundle header (docs tensorbundle.md section 4.1)."""
    from purekeras_io._proto.tf import tensor_bundle_pb2

    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    header.version.producer = 1
    assert header.SerializeToString() == bytes.fromhex("08011a020801")
