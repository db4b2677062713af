"""``purekeras verify`` accepts every file TensorFlow 2.21, tf_keras 2.21 and Keras 3.15.1 write
themselves (SavedModels, .h5, .keras, .weights.h5, checkpoints, a plain tf.Module SavedModel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from purekeras_io.cli.ui import UI
from purekeras_io.cli.verify import verify_path


def test_verify_accepts_what_tf_and_keras_write(oracle: Any, tmp_path: Path) -> None:
    files = oracle.run("cli_verify_write", {"dir": str(tmp_path)})["files"]
    assert len(files) == 10
    bad = {}
    for name, path in files.items():
        report = verify_path(path, UI(quiet=True))
        if not report.ok:
            bad[name] = [str(p) for p in report.problems]
    assert bad == {}
