"""``purekeras`` on Keras 3 sharded weights (``x.weights.json`` + ``x_NNNNN.weights.h5``, written
by our ``save_weights(..., max_shard_size=)``): detected by content as ``weights-json``; ``verify``
passes clean files and reports every kind of damage (exit 1, no traceback); ``inspect`` lists
each shard's datasets in text and JSON; ``convert`` and ``diff`` refuse as for ``h5-weights``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import layers
from purekeras_io.cli import main
from purekeras_io.cli.detect import detect
from purekeras_io.cli.ui import UI
from purekeras_io.cli.verify import verify_path
from purekeras_io.errors import FormatError

QUIET = UI(quiet=True)
KERNEL = 64 * 300 * 4
LIMIT_GB = (KERNEL + 600) / 1024**3  # d1's kernel fits in a shard, its bias overflows


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _model() -> Any:
    m = pk.Sequential(
        [layers.Input((64,), name="inp"), layers.Dense(300, name="d1"),
         layers.Dense(10, name="d2")],
        name="seq",
    )
    m.compile(optimizer=pk.optimizers.Adam(), loss="mse")
    m.optimizer.build(m.trainable_weights)
    rng = np.random.default_rng(0)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def clean(tmp_path_factory: Any) -> Path:
    d = tmp_path_factory.mktemp("sharded")
    _model().save_weights(d / "x.weights.json", max_shard_size=LIMIT_GB)
    return d


@pytest.fixture
def copy(clean: Path, tmp_path: Path) -> Path:
    d = tmp_path / "c"
    shutil.copytree(clean, d)
    return d


def _map(d: Path) -> dict[str, Any]:
    return json.loads((d / "x.weights.json").read_text())


def _write_map(d: Path, doc: Any) -> None:
    (d / "x.weights.json").write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=4))


def test_detect_by_content(clean: Path, tmp_path: Path) -> None:
    assert detect(clean / "x.weights.json").format == "weights-json"
    renamed = tmp_path / "weights_map.txt"  # content decides, not the name
    shutil.copy(clean / "x.weights.json", renamed)
    assert detect(renamed).format == "weights-json"
    assert detect(clean / "x_00000.weights.h5").format == "h5-weights"
    damaged = tmp_path / "d.weights.json"  # damaged but named so: verify reports it
    damaged.write_text('{"metadata": {"total_')
    assert detect(damaged).format == "weights-json"
    hinted = tmp_path / "hinted.json"
    hinted.write_text('{"weight_map": {"/layers/d/vars": "a')
    assert detect(hinted).format == "weights-json"
    other = tmp_path / "other.json"
    other.write_text('{"a": ')
    with pytest.raises(FormatError, match=r"other\.json: malformed JSON"):
        detect(other)
    other.write_text('{"a": 1}')
    with pytest.raises(FormatError, match=r"other\.json: .*without 'metadata' and 'weight_map'"):
        detect(other)


def test_verify_clean(capsys: Any, clean: Path) -> None:
    code, out, err = run(capsys, "verify", str(clean / "x.weights.json"))
    assert code == 0, out + err
    assert "(weights-json): OK; checked 3 weight map entries, 14 weights, 5 shards" in out
    assert "no model config" in out and "HDF5 carries no checksum" in out
    code, out, _ = run(capsys, "verify", "--json", str(clean / "x.weights.json"))
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["format"] == "weights-json"
    assert doc["checked"] == {"weight map entries": 3, "weights": 14, "shards": 5}


def test_verify_mixed_dtypes_total_size(tmp_path: Path) -> None:
    """float16 and bfloat16 (stored as tagged 2-byte opaque) count 2 bytes in Keras' rule."""
    m = pk.Sequential([layers.Input((8,), name="inp"),
                       layers.Dense(16, name="h", dtype="float16"),
                       layers.Dense(4, name="o", dtype="bfloat16")], name="mix")
    m.save_weights(tmp_path / "m.weights.json", max_shard_size=300 / 1024**3)
    assert json.loads((tmp_path / "m.weights.json").read_text())["metadata"]["total_size"] == 424
    report = verify_path(str(tmp_path / "m.weights.json"), QUIET)
    assert report.ok, report.problems
    assert report.checked["shards"] == 2 and report.checked["weights"] == 4


def _truncate_json(d: Path) -> None:
    text = (d / "x.weights.json").read_text()
    _write_map(d, text[: len(text) // 2])


def _missing_shard(d: Path) -> None:
    (d / "x_00002.weights.h5").unlink()


def _not_hdf5(d: Path) -> None:
    (d / "x_00003.weights.h5").write_bytes(b"not an HDF5 file\n" * 64)


def _truncated_shard(d: Path) -> None:
    data = (d / "x_00000.weights.h5").read_bytes()
    (d / "x_00000.weights.h5").write_bytes(data[: len(data) // 2])


def _wrong_shard(d: Path) -> None:
    doc = _map(d)
    doc["weight_map"]["/layers/dense_1/vars"] = ["x_00000.weights.h5"]
    _write_map(d, doc)


def _twice(d: Path) -> None:
    with h5py.File(d / "x_00001.weights.h5", "a") as f:
        f.create_dataset("optimizer/vars/2", data=np.zeros((64, 300), np.float32))


def _unlisted_group(d: Path) -> None:
    doc = _map(d)
    del doc["weight_map"]["/layers/dense_1/vars"]
    _write_map(d, doc)


def _total(d: Path) -> None:
    doc = _map(d)
    doc["metadata"]["total_size"] = 1.0
    _write_map(d, doc)


def _outside_vars(d: Path) -> None:
    with h5py.File(d / "x_00004.weights.h5", "a") as f:
        f.create_dataset("layers/stray", data=np.zeros(3, np.float32))


def _text_dataset(d: Path) -> None:
    with h5py.File(d / "x_00004.weights.h5", "a") as f:
        del f["optimizer/vars/9"]
        f.create_dataset("optimizer/vars/9", data=np.array([b"abc"] * 10))


def _escape(d: Path) -> None:
    doc = _map(d)
    doc["weight_map"]["/layers/dense_1/vars"] = "../x_00001.weights.h5"
    _write_map(d, doc)


def _not_object(d: Path) -> None:
    _write_map(d, '{"metadata": {"total_size": 1.0}, "weight_map": [1, 2]}')


def _bad_key(d: Path) -> None:
    doc = _map(d)
    doc["weight_map"]["/layers/dense_1"] = doc["weight_map"].pop("/layers/dense_1/vars")
    _write_map(d, doc)


DAMAGE = {  # kind: (problems reported, damage, a problem line matches)
    "truncated json": (1, _truncate_json, r"x\.weights\.json: not valid JSON"),
    "missing shard": (1, _missing_shard, r"x_00002\.weights\.h5: shard listed in the weight map "
                      r"is missing"),
    "shard not hdf5": (1, _not_hdf5, r"x_00003\.weights\.h5: not a readable HDF5 file"),
    "truncated shard": (1, _truncated_shard, r"x_00000\.weights\.h5: .*(HDF5|outside the file)"),
    "dataset in the wrong shard": (3,
        _wrong_shard,
        r"x_00001\.weights\.h5: /layers/dense_1/vars/0: stored in x_00001\.weights\.h5, but "
        r"weight_map\['/layers/dense_1/vars'\] names \['x_00000\.weights\.h5'\]"),
    "dataset twice": (1, _twice, r"/optimizer/vars/2: stored in more than one shard "
                      r"\(x_00001\.weights\.h5, x_00002\.weights\.h5\)"),
    "group not in the map": (1, _unlisted_group, r"/layers/dense_1/vars: 2 dataset\(s\) the weight "
                             r"map does not list"),
    "total_size": (1, _total, r"metadata\.total_size: 1\.0, but the shards' datasets add up to "
                   r"270132\.0 bytes"),
    "dataset outside vars": (1, _outside_vars, r"/layers/stray: a dataset outside a 'vars' group"),
    "text dataset": (1, _text_dataset, r"/optimizer/vars/9: .*only numeric variables"),
    "shard outside the folder": (2, _escape, r"plain file names"),
    "weight_map not an object": (1, _not_object, r"weight_map: is list, expected an object"),
    "key Keras cannot look up": (2, _bad_key, r"weight_map\['/layers/dense_1'\]: Keras looks"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_verify_damage_is_reported(capsys: Any, copy: Path, kind: str) -> None:
    count, damage, pattern = DAMAGE[kind]
    damage(copy)
    code, out, err = run(capsys, "verify", str(copy / "x.weights.json"))
    assert code == 1, out + err
    assert "Traceback" not in out + err and err == ""
    assert any(re.search(pattern, line) for line in out.splitlines()), out
    code, out, err = run(capsys, "verify", "--json", str(copy / "x.weights.json"))
    doc = json.loads(out)
    assert code == 1 and not doc["ok"] and len(doc["problems"]) == count, doc["problems"]


def test_unlisted_shard_on_disk_is_a_note(capsys: Any, copy: Path) -> None:
    shutil.copy(copy / "x_00004.weights.h5", copy / "x_00005.weights.h5")
    code, out, _ = run(capsys, "verify", str(copy / "x.weights.json"))
    assert code == 0, out
    assert "note: " in out and "x_00005.weights.h5: a shard file beside the JSON that its " \
        "weight map does not list" in out


def test_inspect_text_and_json(capsys: Any, clean: Path) -> None:
    path = str(clean / "x.weights.json")
    code, out, err = run(capsys, "inspect", path)
    assert code == 0, err
    assert out.startswith(f"{path}: weights-json, ") and "in 6 file(s)" in out
    assert "weight map: 3 groups in 5 shard(s); total_size 270,132 bytes (metadata)" in out
    assert "shard x_00000.weights.h5 (1 datasets, 75.0 KiB):" in out
    assert "layers/dense/vars/0  (64, 300)  float32  76,800" in out
    assert "totals: 14 datasets, 270,132 bytes (263.8 KiB) in 5 shard(s)" in out
    code, out, _ = run(capsys, "inspect", "--json", path)
    doc = json.loads(out)
    w = doc["weights_json"]
    assert code == 0 and doc["format"] == "weights-json"
    assert [Path(f["path"]).name for f in doc["files"]] == [
        "x.weights.json", *(f"x_0000{i}.weights.h5" for i in range(5))]
    assert w["total_size"] == 270132.0 == w["totals"]["bytes"]
    assert w["totals"] == {"shards": 5, "tensors": 14, "bytes": 270132}
    assert w["weight_map"][0] == {"key": "/layers/dense/vars",
                                  "shards": ["x_00000.weights.h5", "x_00001.weights.h5"]}
    assert [t["key"] for t in w["shards"][1]["tensors"]] == [
        "layers/dense/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1",
        "optimizer/vars/0", "optimizer/vars/1"]
    assert w["shards"][0]["tensors"][0] == {"key": "layers/dense/vars/0", "shape": [64, 300],
                                            "dtype": "float32", "bytes": 76800}


@pytest.mark.parametrize("damage", [_truncate_json, _missing_shard, _not_hdf5])
def test_inspect_damaged_is_one_line(capsys: Any, copy: Path, damage: Any) -> None:
    damage(copy)
    code, out, err = run(capsys, "inspect", str(copy / "x.weights.json"))
    assert code == 2 and out == "" and err.startswith("purekeras: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err


def test_convert_and_diff_refuse_like_h5_weights(capsys: Any, clean: Path, tmp_path: Path
                                                 ) -> None:
    path = str(clean / "x.weights.json")
    for target in ("y.keras", "y.h5", "y_sm"):
        code, _, err = run(capsys, "convert", path, str(tmp_path / target))
        assert code == 2 and "weights only, no model config" in err and err.count("\n") == 1
        assert not (tmp_path / target).exists()
    code, _, err = run(capsys, "convert", str(clean / "x_00000.weights.h5"),
                       str(tmp_path / "z.keras"))
    assert code == 2 and "no model config" in err  # the same refusal for h5-weights
    code, _, err = run(capsys, "diff", path, path)
    assert code == 2 and "weights only, no model config" in err


def test_weights_still_load_after_verify(clean: Path) -> None:
    """verify reads without changing anything: the files load as before."""
    before = {p.name: p.read_bytes() for p in clean.iterdir()}
    assert verify_path(str(clean / "x.weights.json"), QUIET).ok
    assert {p.name: p.read_bytes() for p in clean.iterdir()} == before
    back = _model()
    back.load_weights(clean / "x.weights.json")
    for a, b in zip(back.get_weights(), _model().get_weights()):
        np.testing.assert_array_equal(a, b)
