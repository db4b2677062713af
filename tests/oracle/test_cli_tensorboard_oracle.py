"""``purekeras tensorboard`` event files, read by TensorBoard 2.21's own event reader in an
environment without TensorFlow: the graph is found, with the lowered layers' ops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import purekeras_io as pk
from purekeras_io.cli.main import main as purekeras

L = pk.layers


def test_tensorboard_finds_the_graph(oracle_tensorboard: Any, tmp_path: Path) -> None:
    seed = pk.Sequential([L.Dense(5, input_shape=(3,)), L.Softmax()])
    a, b = pk.Input((5,), name="in_a"), pk.Input((4,), name="in_b")
    x = L.Concatenate()([L.Dense(6, activation="relu")(a), L.Dense(3)(b)])
    multi = pk.Model([a, b], L.Dense(2, activation="softmax")(x))
    logdirs = {}
    for name, model, ext in (("seed_sm", seed, ""), ("seed_keras", seed, ".keras"),
                             ("multi_h5", multi, ".h5")):
        src = tmp_path / f"{name}{ext}"
        model.save(src)
        logdirs[name] = str(tmp_path / "logs" / name)
        assert purekeras(["--quiet", "tensorboard", str(src), logdirs[name],
                          "--wall-time", "1700000000"]) == 0
    out = oracle_tensorboard.run("tensorboard_read", {"logdirs": logdirs})
    assert out["tensorflow_importable"] is False
    for name, run in out["runs"].items():
        assert "error" not in run, run.get("error")
        assert run["has_graph"], name
        assert "StatefulPartitionedCall" in run["ops"] and "Placeholder" in run["ops"], run
        assert {"MatMul", "BiasAdd", "Softmax"} <= set(run["library_ops"]), run
    assert "ConcatV2" in out["runs"]["multi_h5"]["library_ops"]
