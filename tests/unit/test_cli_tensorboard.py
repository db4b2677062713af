"""``purekeras tensorboard``: TFRecord framing, the Event wire format, determinism, fallbacks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import purekeras_io as pk
from purekeras_io._proto.tf import graph_pb2
from purekeras_io.cli.main import main as purekeras
from purekeras_io.cli.tensorboard_cmd import layer_graph
from purekeras_io.errors import FormatError
from purekeras_io.tensorboard import encode_event, iter_records
from purekeras_io.tensorboard.events import FILE_VERSION, record

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "savedmodel"


def _events(logdir: Path) -> tuple[Path, list[bytes]]:
    (path,) = sorted(logdir.glob("events.out.tfevents.*"))
    return path, list(iter_records(path))


def test_event_wire_format() -> None:
    ev = encode_event(1.5, step=3, file_version=FILE_VERSION)
    assert ev == b"\x09" + struct.pack("<d", 1.5) + b"\x10\x03\x1a\x0d" + FILE_VERSION
    assert encode_event(2.0, graph_def=b"xy")[-4:] == b"\x22\x02xy"


def test_seed_graph_event_file_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "seed.keras"
    pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()]).save(src)
    blobs = []
    for i in range(2):
        logdir = tmp_path / f"log{i}"
        assert purekeras(["--quiet", "tensorboard", str(src), str(logdir),
                          "--wall-time", "1234.5"]) == 0
        path, recs = _events(logdir)
        assert path.name.startswith("events.out.tfevents.1234.")
        assert recs[0].endswith(FILE_VERSION)
        graph = graph_pb2.GraphDef.FromString(_graph_bytes(recs[1]))
        ops = {n.op for f in graph.library.function for n in f.node_def}
        assert {"MatMul", "BiasAdd", "Softmax"} <= ops
        blobs.append(path.read_bytes())
    assert blobs[0] == blobs[1]


def _graph_bytes(event: bytes) -> bytes:
    pos = 9  # wall_time
    assert event[pos] == 0x22
    pos += 1
    length, shift = 0, 0
    while True:
        b = event[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return event[pos : pos + length]


def test_tf_own_savedmodel_graph_is_taken_as_it_is(tmp_path: Path) -> None:
    src = GOLDEN / "seed.tf"
    assert purekeras(["--quiet", "tensorboard", str(src), str(tmp_path), "--wall-time", "1"]) == 0
    _, recs = _events(tmp_path)
    assert graph_pb2.GraphDef.FromString(_graph_bytes(recs[1])).node


def test_layer_graph_fallback() -> None:
    a = pk.Input((3,), name="a")
    m = pk.Model(a, pk.layers.Dense(2, name="d")(pk.layers.Dense(4, name="h")(a)))
    g = layer_graph(m)
    assert [(n.name, n.op, list(n.input)) for n in g.node][1:] == [
        ("h", "Dense", ["a"]), ("d", "Dense", ["h"])]


def test_damaged_records_give_format_error(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.h"
    good = record(encode_event(1.0, file_version=FILE_VERSION))
    for bad in (good[:-1], good[:10], bytearray(good)):
        if isinstance(bad, bytearray):
            bad[14] ^= 1
        path.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            list(iter_records(path))
