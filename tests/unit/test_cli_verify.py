"""``purekeras verify``: clean files of each format pass; one flipped byte in any TensorBundle data
region or SSTable block, and in any ``.keras`` zip member, is caught; a wrong-shape ``.h5`` weight
is caught; a missing file is exit 2 with one line."""

from __future__ import annotations

import json
import shutil
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io.cli import main
from purekeras_io.cli.ui import UI
from purekeras_io.cli.verify import verify_path
from purekeras_io.tensorbundle.reader import parse_entry, read_index
from purekeras_io.tensorbundle.sstable import BlockHandle, decode_footer, parse_block

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
QUIET = UI(quiet=True)


def _seq() -> pk.Sequential:
    pk.initializers.seed(0)
    m = pk.Sequential([pk.layers.Dense(4, input_shape=(3,), name="hidden"),
                       pk.layers.Dense(2, name="out")], name="seq")
    m.compile(optimizer=pk.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    opt = m.optimizer
    assert opt is not None
    opt.build(m.trainable_weights)
    return m


@pytest.fixture(scope="module")
def files(tmp_path_factory: Any) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("verify")
    m = _seq()
    out = {
        "sm": d / "sm", "h5": d / "m.h5", "h5k2": d / "k2.h5", "keras": d / "m.keras",
        "ckpt": d / "ck" / "ckpt", "weights_h5": d / "w.weights.h5", "k2_weights": d / "w.h5",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.save(out["sm"], save_format="tf")
        m.save(out["h5"])
        pk.models.save_model(m, out["h5k2"], target="keras2")
        m.save(out["keras"])
        m.save_weights(out["ckpt"])
        m.save_weights(out["weights_h5"])
        m.save_weights(out["k2_weights"])
    return out


def _problems(path: Path | str) -> list[str]:
    return [str(p) for p in verify_path(str(path), QUIET).problems]


@pytest.mark.parametrize("key", ["sm", "h5", "h5k2", "keras", "ckpt", "weights_h5",
                                 "k2_weights"])
def test_clean_files_pass(capsys: Any, files: dict[str, Path], key: str) -> None:
    code = main(["verify", str(files[key])])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert ": OK;" in out


def test_notes_say_what_hdf5_cannot_prove(capsys: Any, files: dict[str, Path]) -> None:
    assert main(["verify", str(files["h5"])]) == 0
    assert "HDF5 carries no checksum" in capsys.readouterr().out
    assert main(["verify", "--json", str(files["keras"])]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and any("CRC-32" in n for n in report["notes"])


@pytest.mark.parametrize("path", sorted(
    [p for p in (GOLDEN / "savedmodel").iterdir()] + [p for p in (GOLDEN / "keras").iterdir()]
    + [p for p in (GOLDEN / "h5").iterdir()] + [p for p in (GOLDEN / "checkpoint").iterdir()]
    + [GOLDEN / "tensorbundle" / n for n in ("dtypes", "multiblock", "scalars", "strings")]),
    ids=lambda p: f"{p.parent.name}/{p.name}")
def test_goldens_verify(path: Path) -> None:
    assert _problems(path) == []


def _flipped(src: Path, dst: Path, offset: int) -> None:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x5A
    dst.write_bytes(bytes(data))


def _copy_bundle(prefix: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in prefix.parent.glob(prefix.name + ".*"):
        shutil.copy(f, dst / f.name)
    return dst / prefix.name


def _block_spans(index: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end incl. trailer) of every block of an index file."""
    metaindex, idx = decode_footer(index[-48:])
    spans = [("metaindex", metaindex.offset, metaindex.offset + metaindex.size + 5),
             ("index", idx.offset, idx.offset + idx.size + 5)]
    for n, (_, raw) in enumerate(parse_block(index[idx.offset: idx.offset + idx.size])):
        h, _ = BlockHandle.decode(raw)
        spans.append((f"data block {n}", h.offset, h.offset + h.size + 5))
    return spans


@pytest.mark.parametrize("bundle", ["multiblock", "strings", "dtypes"])
def test_flipped_byte_in_every_sstable_block(tmp_path: Path, bundle: str) -> None:
    prefix = _copy_bundle(GOLDEN / "tensorbundle" / bundle, tmp_path / "src")
    index = Path(f"{prefix}.index")
    data = index.read_bytes()
    spans = _block_spans(data)
    assert len(spans) >= 3
    tried = 0
    for name, start, end in spans:
        size = end - start
        picks = sorted({start, start + size // 3, start + size // 2, end - 6, end - 5, end - 1})
        if size <= 64:
            picks = list(range(start, end))
        for off in picks:
            _flipped(index, Path(f"{prefix}.index.tmp"), off)
            shutil.copy(f"{prefix}.index", tmp_path / "orig.index")
            shutil.move(f"{prefix}.index.tmp", f"{prefix}.index")
            try:
                assert _problems(prefix), f"{bundle}: flip at {off} in {name} not caught"
            finally:
                shutil.copy(tmp_path / "orig.index", f"{prefix}.index")
            tried += 1
    assert tried >= len(spans) * 3


@pytest.mark.parametrize("kind", ["ckpt", "strings", "sm"])
def test_flipped_byte_in_every_tensor(tmp_path: Path, files: dict[str, Path], kind: str) -> None:
    if kind == "ckpt":
        src = files["ckpt"]
    elif kind == "sm":
        src = files["sm"] / "variables" / "variables"
    else:
        src = GOLDEN / "tensorbundle" / "strings"
    prefix = _copy_bundle(src, tmp_path / "b")
    header, items = read_index(str(prefix))
    data_file = Path(f"{prefix}.data-00000-of-00001")
    original = data_file.read_bytes()
    entries = [parse_entry(raw, key=k.decode(), name="x", num_shards=header.num_shards)[1]
               for k, raw in items]
    assert entries
    for e in entries:
        if e.size == 0:
            continue
        for off in sorted({e.offset, e.offset + e.size // 2, e.offset + e.size - 1}):
            data = bytearray(original)
            data[off] ^= 0x01
            data_file.write_bytes(bytes(data))
            found = _problems(prefix)
            assert any(e.key in p for p in found), f"flip at {off} in {e.key!r}: {found}"
    data_file.write_bytes(original)
    assert _problems(prefix) == []


def test_flipped_byte_in_every_keras_member(tmp_path: Path, files: dict[str, Path]) -> None:
    src = files["keras"]
    raw = src.read_bytes()
    with zipfile.ZipFile(src) as zf:
        infos = zf.infolist()
    assert {i.filename for i in infos} >= {"config.json", "model.weights.h5"}
    for info in infos:
        name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
        start = info.header_offset + 30 + name_len + extra_len
        for off in sorted({start, start + info.compress_size // 2,
                           start + info.compress_size - 1}):
            dst = tmp_path / "f.keras"
            _flipped(src, dst, off)
            found = _problems(dst)
            assert any(info.filename in p for p in found), (info.filename, off, found)


def test_many_problems_are_all_reported(tmp_path: Path, files: dict[str, Path]) -> None:
    prefix = _copy_bundle(files["ckpt"], tmp_path / "b")
    data_file = Path(f"{prefix}.data-00000-of-00001")
    _header, items = read_index(str(prefix))
    data = bytearray(data_file.read_bytes())
    entries = [parse_entry(raw, key=k.decode(), name="x", num_shards=1)[1] for k, raw in items]
    for e in entries:
        if e.size:
            data[e.offset] ^= 0xFF
    data_file.write_bytes(bytes(data))
    found = _problems(prefix)
    damaged = [e.key for e in entries if e.size]
    assert len(found) >= len(damaged)
    assert all(any(repr(k) in p for p in found) for k in damaged)


def test_wrong_shape_h5_weight(capsys: Any, tmp_path: Path, files: dict[str, Path]) -> None:
    for key in ("h5", "h5k2"):
        dst = tmp_path / f"{key}.h5"
        shutil.copy(files[key], dst)
        with h5py.File(dst, "r+") as f:
            g = f["model_weights/hidden"]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
            kernel = next(n for n in names if "kernel" in n)
            del g[kernel]
            g.create_dataset(kernel, data=np.zeros((3, 5), "float32"))
        code = main(["verify", str(dst)])
        out, _ = capsys.readouterr()
        assert code == 1
        lines = [ln for ln in out.splitlines() if "shape [3, 5]" in ln]
        assert len(lines) == 1 and kernel in lines[0] and "[3, 4]" in lines[0], out


def test_missing_file_is_exit_2_one_line(capsys: Any, tmp_path: Path) -> None:
    code = main(["verify", str(tmp_path / "nope.keras")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "nope.keras" in err


def test_unknown_format_is_exit_2(capsys: Any, tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"hello world")
    assert main(["verify", str(p)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_truncated_files_do_not_crash(tmp_path: Path, files: dict[str, Path]) -> None:
    for key in ("keras", "h5"):
        dst = tmp_path / files[key].name
        raw = files[key].read_bytes()
        for cut in (len(raw) // 3, len(raw) // 2, len(raw) - 7):
            dst.write_bytes(raw[:cut])
            try:
                assert _problems(dst)
            except pk.errors.PurekerasError:
                pass  # detection may refuse it as a user error: one line, exit 2
    prefix = _copy_bundle(files["ckpt"], tmp_path / "t")
    index = Path(f"{prefix}.index")
    raw = index.read_bytes()
    for cut in range(0, len(raw), max(1, len(raw) // 20)):
        index.write_bytes(raw[:cut])
        assert _problems(prefix)
