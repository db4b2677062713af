"""The hostile files of issue 11, one per reader: each gives our error, fast and in bounded memory.

A ``.keras`` member escaping its folder, a zip bomb, HDF5 external and soft links, a 200 MB and a
100,000-deep JSON config (``.h5``, ``.keras``, SavedModel). (A TensorBundle entry claiming 2^80
elements or strings: ``test_tensorbundle_hostile.py::test_bad_entries``.) Each case runs in a
child process with a 2 GiB address-space limit and must finish within a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import purekeras_io as pk

L = pk.layers
LIMIT_S = 10.0  # generous for a loaded CI machine; each case takes well under a second alone

_CHILD = textwrap.dedent("""
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    import purekeras_io as pk
    from purekeras_io.errors import PurekerasError
    t = time.perf_counter()
    try:
        pk.models.load_model(sys.argv[1])
    except PurekerasError as exc:
        print("OURS", type(exc).__name__, f"{time.perf_counter() - t:.3f}", str(exc)[:300])
    except BaseException as exc:
        print("FOREIGN", type(exc).__name__, str(exc)[:300])
    else:
        print("LOADED")
""")


def _load_in_child(path: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def _assert_ours(path: Path, needle: str = "") -> None:
    out = _load_in_child(path)
    assert out.startswith("OURS"), out
    assert float(out.split()[2]) < LIMIT_S, out
    assert needle.lower() in out.lower(), out


def _model() -> pk.Model:
    return pk.Sequential([L.Dense(3, input_shape=(2,), name="d")], name="m")


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes],
                 extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, replace.get(info.filename, zin.read(info.filename)))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


@pytest.fixture
def keras_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.keras"
    _model().save(path)
    return path


@pytest.fixture
def h5_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.h5"
    _model().save(path)
    return path


def test_keras_member_escaping_its_folder(keras_file: Path, tmp_path: Path) -> None:
    for i, name in enumerate(("../evil.txt", "/etc/evil.txt", "assets/../../evil.txt")):
        bad = tmp_path / f"escape{i}.keras"
        _rewrite_zip(keras_file, bad, {}, {name: b"x"})
        _assert_ours(bad)
        assert not (tmp_path.parent / "evil.txt").exists()


def test_keras_zip_bomb(keras_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bomb.keras"
    with zipfile.ZipFile(keras_file) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                data = data[:-1] + b" " * (1 << 30) + data[-1:]  # 1 GiB of spaces, ~1 MB deflated
                zout.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                zout.writestr(info, data)
    assert bad.stat().st_size < 5 << 20
    _assert_ours(bad)


@pytest.mark.parametrize("kind", ["deep", "huge"])
def test_keras_hostile_config_json(keras_file: Path, tmp_path: Path, kind: str) -> None:
    with zipfile.ZipFile(keras_file) as z:
        config = json.loads(z.read("config.json"))
    config["config"]["name"] = _deep(100_000) if kind == "deep" else "x" * (200 << 20)
    data = json.dumps(config).replace(json.dumps(config["config"]["name"]),
                                      config["config"]["name"] if kind == "deep" else '"x"')
    if kind == "huge":
        data = data[:-1] + ', "pad": "' + "x" * (200 << 20) + '"}'
    bad = tmp_path / f"{kind}.keras"
    _rewrite_zip(keras_file, bad, {"config.json": data.encode()})
    _assert_ours(bad)


@pytest.mark.parametrize("kind", ["deep", "huge"])
def test_h5_hostile_model_config(h5_file: Path, kind: str) -> None:
    with h5py.File(h5_file, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        text = json.dumps(config)
        if kind == "deep":
            text = text[:-1] + ', "pad": ' + _deep(100_000) + "}"
        else:
            text = text[:-1] + ', "pad": "' + "x" * (200 << 20) + '"}'
        del f.attrs["model_config"]
        f.attrs.create("model_config", text, dtype=h5py.string_dtype())  # vlen: no 64 KiB cap
    _assert_ours(h5_file)


@pytest.mark.parametrize("link", ["soft", "external"])
def test_h5_links_are_not_followed(h5_file: Path, tmp_path: Path, link: str) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["secret"] = np.arange(6, dtype="float32").reshape(2, 3)
    with h5py.File(h5_file, "r+") as f:
        group = f["model_weights"]["d"]["d"]
        del group["kernel:0"]
        group["kernel:0"] = (h5py.SoftLink("/model_weights/d/d/bias:0") if link == "soft"
                             else h5py.ExternalLink(str(other), "/secret"))
    _assert_ours(h5_file, "link")


def test_savedmodel_deep_keras_metadata(tmp_path: Path) -> None:
    from purekeras_io._proto.keras import saved_metadata_pb2

    path = tmp_path / "sm"
    _model().save(path, save_format="tf")
    meta = saved_metadata_pb2.SavedMetadata()
    meta.ParseFromString((path / "keras_metadata.pb").read_bytes())
    meta.nodes[0].metadata = meta.nodes[0].metadata[:-1] + ', "pad": ' + _deep(100_000) + "}"
    (path / "keras_metadata.pb").write_bytes(meta.SerializeToString())
    _assert_ours(path)
