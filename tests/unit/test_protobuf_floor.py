"""Our generated code works on the oldest protobuf runtime we allow (6.31.1, TF 2.21's floor).

The test process may run a newer protobuf (7.x); this test installs 6.31.1 alone into a temporary
folder, puts it first on ``sys.path`` of a subprocess, imports every ``_pb2`` module there and
round-trips the messages of a SavedModel written by this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import purekeras_io as pk

ROOT = Path(__file__).resolve().parents[2]
FLOOR = "protobuf==6.31.1"

CHECK = r"""
import importlib, json, pkgutil, sys
import google.protobuf
import purekeras_io._proto as protos
mods = [m.name for m in pkgutil.walk_packages(protos.__path__, "purekeras_io._proto.")
        if m.name.endswith("_pb2")]
for name in mods:
    importlib.import_module(name)
from purekeras_io._proto.tf import saved_model_pb2
from purekeras_io._proto.keras import saved_metadata_pb2
sm = saved_model_pb2.SavedModel.FromString(open(sys.argv[1] + "/saved_model.pb", "rb").read())
meta = saved_metadata_pb2.SavedMetadata.FromString(
    open(sys.argv[1] + "/keras_metadata.pb", "rb").read())
raw = open(sys.argv[1] + "/saved_model.pb", "rb").read()
same = sm.SerializeToString(deterministic=True) == raw
print(json.dumps({"version": google.protobuf.__version__, "modules": len(mods),
                  "nodes": len(sm.meta_graphs[0].object_graph_def.nodes),
                  "meta": len(meta.nodes), "same": same}))
"""


def test_generated_code_on_protobuf_floor(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--target", str(target), FLOOR],
        check=True,
        capture_output=True,
    )
    model = pk.Sequential([pk.layers.Dense(5, input_shape=(3,)), pk.layers.Softmax()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "model")
    code = f"import sys; sys.path[:0] = [{str(target)!r}, {str(ROOT)!r}]\n" + CHECK
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model")],
        check=True,
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["version"] == FLOOR.split("==")[1]
    assert result["modules"] >= 24
    assert result["nodes"] > 3 and result["meta"] >= 3
    assert result["same"]
