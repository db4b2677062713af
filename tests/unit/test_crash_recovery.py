"""Saves killed part-way: the target is the old model or the new one, never neither, and the
next save or load finishes or removes what the dead writer left (``purekeras_io._io.recover``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import purekeras_io as pk
from purekeras_io import _io
from purekeras_io.tensorbundle import BundleReader, write

L = pk.layers


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _name(target: Path, marker: str, pid: int, hidden: bool = True) -> Path:
    token = f"{pid}-{'a' * 16}"
    name = f".{target.name}.{marker}-{token}" if hidden else f"{target.name}.{marker}{token}"
    return target.parent / name


def _seed(units: int) -> pk.Model:
    return pk.Sequential([L.Dense(units, input_shape=(3,)), L.Softmax()])


def test_folder_swap_killed_between_renames_moves_the_new_one_in(tmp_path: Path) -> None:
    target = tmp_path / "model"
    old, new = _seed(5), _seed(7)
    old.save(target)
    pid = _dead_pid()
    new.save(tmp_path / "staging")
    os.replace(tmp_path / "staging", _name(target, "ready", pid))
    os.replace(target, _name(target, "old", pid))  # killed here: target missing
    loaded = pk.models.load_model(target)
    assert loaded.layers[0].get_config()["units"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_folder_swap_killed_before_the_new_one_was_ready_keeps_the_old(tmp_path: Path) -> None:
    target = tmp_path / "model"
    _seed(5).save(target)
    pid = _dead_pid()
    os.replace(target, _name(target, "old", pid))
    (_name(target, "tmp", pid)).mkdir()  # an unfinished new folder
    loaded = pk.models.load_model(target)
    assert loaded.layers[0].get_config()["units"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_bundle_commit_killed_between_renames_is_rolled_forward(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    write(prefix, {"a": np.zeros(4, np.float32)})
    staging = tmp_path / "new"
    write(staging, {"a": np.ones(4, np.float32), "b": np.arange(3)})
    pid = _dead_pid()
    index_tmp = _name(Path(f"{prefix}.index"), "tempstate", pid, hidden=False)
    data_tmp = _name(Path(f"{prefix}.data-00000-of-00001"), "tempstate", pid, hidden=False)
    os.replace(f"{staging}.index", index_tmp)
    os.replace(f"{staging}.data-00000-of-00001", data_tmp)
    journal = _name(Path(f"{prefix}.index"), "commit", pid)
    journal.write_text(
        f'[["{index_tmp.name}", "ckpt.index"], ["{data_tmp.name}", "ckpt.data-00000-of-00001"]]'
    )
    os.replace(index_tmp, f"{prefix}.index")  # killed after the first rename
    with BundleReader(prefix) as reader:
        assert sorted(reader.keys()) == ["a", "b"]
        np.testing.assert_array_equal(reader.get("a"), np.ones(4, np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.data-00000-of-00001", "ckpt.index"]


def test_dead_writers_temporaries_are_removed_by_the_next_save(tmp_path: Path) -> None:
    pid = _dead_pid()
    target = tmp_path / "m.h5"
    _name(target, "tmp", pid).write_bytes(b"half")
    live = _name(target, "tmp", os.getppid())  # a writer that still runs: left alone
    live.write_bytes(b"busy")
    _seed(5).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.h5", live.name])


def test_recover_ignores_unrelated_and_malformed_names(tmp_path: Path) -> None:
    target = tmp_path / "x.keras"
    keep = [".x.keras.tmp-notapid", "x.keras.bak", ".other.tmp-1-" + "b" * 16]
    for name in keep:
        (tmp_path / name).write_bytes(b"")
    bad_journal = _name(target, "commit", _dead_pid())
    bad_journal.write_text('[["../../etc/passwd", "x"]]')
    _io.recover(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


_SAVER = """
import sys, numpy as np, purekeras_io as pk, warnings
warnings.simplefilter("ignore")
fmt, path = sys.argv[1], sys.argv[2]
model = pk.Sequential([pk.layers.Dense(512, input_shape=(2048,)), pk.layers.Dense(512)])
model.set_weights([np.full(w.shape, 1.0, np.float32) for w in model.get_weights()])
print("ready", flush=True)
while True:
    if fmt == "checkpoint":
        model.save_weights(path)
    else:
        model.save(path)
"""


@pytest.mark.parametrize("fmt", ["tf", "h5", "keras", "checkpoint"])
def test_sigkill_during_saves_leaves_old_or_new(tmp_path: Path, fmt: str) -> None:
    """SIGKILL a process that saves over an existing model at random moments (bounded: 12 kills
    per format); each time the target loads, and the next save leaves no temporary behind."""
    suffix = {"tf": "sm", "h5": "m.h5", "keras": "m.keras", "checkpoint": "ck/ckpt"}[fmt]
    target = tmp_path / suffix
    small = _seed(5)
    rng = np.random.default_rng(0)
    for kill in range(12):
        if fmt == "checkpoint":
            small.save_weights(target)
        else:
            small.save(target)
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, fmt, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.0, 0.25)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if fmt == "checkpoint":
            with BundleReader(target) as reader:  # old or new, complete either way
                for key in reader.keys():
                    reader.get(key)
        else:
            loaded = pk.models.load_model(target)
            assert loaded.layers[0].get_config()["units"] in (5, 512), kill
        if fmt == "checkpoint":
            small.save_weights(target)
        else:
            small.save(target)
        folder = target.parent
        leftovers = [p.name for p in folder.iterdir() if _io._TEMP.match(p.name)]
        assert leftovers == [], (kill, leftovers)
