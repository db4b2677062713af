"""``purekeras verify`` / ``inspect`` on sharded weights written by real Keras 3.15.1
(``model.save_weights("w.weights.json", max_shard_size=…)``, through the
``keras_sharded_check`` oracle script, which also loads our own sharded weights): Keras' files
verify clean with the same counts as ours, inspect lists the same shards and datasets with
Keras' ``total_size``, and a Keras shard removed or a dataset moved is reported (exit 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import layers
from purekeras_io.cli import main
from purekeras_io.keras_v3.optimizer_state import optimizer_arrays

pytestmark = pytest.mark.oracle

LIMIT_GB = (76800 + 600) / 1024**3  # d1's kernel fits, its bias overflows into the next shard


def _model() -> Any:
    m = pk.Sequential(
        [layers.Input((64,), name="inp"), layers.Dense(300, activation="relu", name="d1"),
         layers.Dense(10, name="d2")],
        name="seq",
    )
    m.compile(optimizer=pk.optimizers.Adam(learning_rate=0.01), loss="mse")
    m.optimizer.build(m.trainable_weights)
    rng = np.random.default_rng(0)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()])
    return m


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_on_keras_written_shards(oracle: Any, tmp_path: Path, capsys: Any) -> None:
    m = _model()
    m.save(tmp_path / "arch.keras")
    (tmp_path / "ours").mkdir()
    m.save_weights(tmp_path / "ours" / "w.weights.json", max_shard_size=LIMIT_GB)
    opt = optimizer_arrays(m.optimizer, m.trainable_weights, "keras3")
    np.savez(tmp_path / "ours_ref.npz",
             **{f"w{i}": np.asarray(w) for i, w in enumerate(m.get_weights())},
             **{f"o{i}": np.asarray(o) for i, o in enumerate(opt)})
    np.save(tmp_path / "x.npy", np.zeros((1, 64), np.float32))
    res = oracle.run("keras_sharded_check", {"dir": str(tmp_path), "limit_gb": LIMIT_GB,
                                             "keras_files": [], "x": "x.npy"})
    assert res["keras_version"] == "3.15.1"
    assert not res["errors"], "\n".join(res["errors"])
    k3 = tmp_path / "k3" / "w.weights.json"
    assert len(res["k3_files"]) >= 3  # the JSON and at least two shards

    reports = {}
    for name, path in (("keras", k3), ("ours", tmp_path / "ours" / "w.weights.json")):
        code, out, err = run(capsys, "verify", "--json", str(path))
        assert code == 0, out + err
        reports[name] = json.loads(out)
        assert reports[name]["format"] == "weights-json" and reports[name]["ok"]
    assert reports["keras"]["checked"] == reports["ours"]["checked"]
    assert reports["keras"]["checked"]["shards"] == len(res["k3_files"]) - 1

    code, out, _ = run(capsys, "inspect", "--json", str(k3))
    w = json.loads(out)["weights_json"]
    total = json.loads(k3.read_text())["metadata"]["total_size"]
    assert code == 0 and w["total_size"] == total == w["totals"]["bytes"]
    assert [s["name"] for s in w["shards"]] == [n for n in res["k3_files"] if n.endswith(".h5")]
    code, out, _ = run(capsys, "inspect", "--json", str(tmp_path / "ours" / "w.weights.json"))
    ours = json.loads(out)["weights_json"]
    assert [[t["key"], t["shape"], t["dtype"]] for s in ours["shards"] for t in s["tensors"]] \
        == [[t["key"], t["shape"], t["dtype"]] for s in w["shards"] for t in s["tensors"]]

    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "k3", damaged)
    (damaged / "w_00001.weights.h5").unlink()
    code, out, err = run(capsys, "verify", str(damaged / "w.weights.json"))
    assert code == 1 and "shard listed in the weight map is missing" in out and err == ""
    shutil.copy(tmp_path / "k3" / "w_00001.weights.h5", damaged / "w_00001.weights.h5")
    doc = json.loads((damaged / "w.weights.json").read_text())
    doc["weight_map"]["/layers/dense_1/vars"] = ["w_00000.weights.h5"]
    (damaged / "w.weights.json").write_text(json.dumps(doc, indent=4))
    code, out, _ = run(capsys, "verify", str(damaged / "w.weights.json"))
    assert code == 1 and "loading will not find it" in out
