"""Byte identity with TensorFlow: our writer reproduces the TF-made goldens in
``tests/golden/tensorbundle/`` (made by ``tools/make_tensorbundle_golden.py`` with
``tf.raw_ops.SaveV2``) from the same recipe, and our reader reads them back."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from purekeras_io.tensorbundle import BundleReader, write

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "tensorbundle"
MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text())


def _recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_tensorbundle_golden", ROOT / "tools" / "make_tensorbundle_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECIPE = _recipe()
CASES = sorted(MANIFEST["cases"])


def test_manifest_covers_every_case_and_stays_small() -> None:
    assert set(CASES) == set(RECIPE.CASES)
    assert MANIFEST["tf_version"].startswith("2.21.")
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 1_000_000


@pytest.mark.parametrize("case", CASES)
def test_recipe_matches_manifest(case: str) -> None:
    specs = RECIPE.CASES[case]
    record = RECIPE.describe(specs, RECIPE.make_tensors(specs))
    expected = {k: v for k, v in MANIFEST["cases"][case].items() if k != "files"}
    assert record == expected
    for name, digest in MANIFEST["cases"][case]["files"].items():
        assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("case", CASES)
def test_writer_reproduces_tf_bytes(tmp_path: Path, case: str) -> None:
    tensors = RECIPE.make_tensors(RECIPE.CASES[case])
    write(tmp_path / case, dict(tensors))
    for name in (f"{case}.index", f"{case}.data-00000-of-00001"):
        ours = (tmp_path / name).read_bytes()
        theirs = (GOLDEN / name).read_bytes()
        if ours != theirs:
            at = next(
                (i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                min(len(ours), len(theirs)),
            )
            pytest.fail(f"{name}: {len(ours)} vs {len(theirs)} bytes, first difference at {at}")


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    if want.dtype == np.dtype(object):
        return got.dtype == want.dtype and got.tolist() == want.tolist()
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("case", CASES)
def test_reader_reads_tf_bundles(case: str) -> None:
    tensors: list[tuple[str, Any]] = RECIPE.make_tensors(RECIPE.CASES[case])
    with BundleReader(GOLDEN / case) as reader:
        assert reader.keys() == sorted(k for k, _ in tensors)
        offsets = [reader.entry(k).offset for k, _ in tensors]
        assert offsets == sorted(offsets)  # data file in SaveV2's argument order
        for key, want in tensors:
            assert _same(reader.get(key), want), key


def test_multiblock_golden_has_two_data_blocks() -> None:
    from purekeras_io.tensorbundle import sstable

    data = (GOLDEN / "multiblock.index").read_bytes()
    _, handle = sstable.decode_footer(data[-48:])
    index = sstable.parse_block(data[handle.offset : handle.offset + handle.size])
    assert [k for k, _ in index] == [b"e0c8", b"g"]  # a shortened separator, a short successor
