"""Shared fixtures: the oracle (real TensorFlow / tf_keras / Keras 3 in a separate venv).

Oracle tests batch many files into one subprocess: a test module writes its files into a
module-scoped temporary folder, then calls ``oracle.run("script_name", payload)`` once. The script
``tests/oracle/scripts/<script_name>.py`` reads a JSON payload on stdin and prints one JSON object
as its last stdout line. Oracle tests never skip: a missing oracle environment is built (or fails).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "oracle" / "scripts"


class Oracle:
    """Runs checker scripts in the oracle environment of one kind (``tf``, ``jax``, ``torch``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        out = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "oracle_env.py"), "ensure", kind],
            check=True,
            capture_output=True,
            text=True,
        )
        self.python = out.stdout.strip().splitlines()[-1]

    def run(
        self, script: str, payload: Any, *, timeout: float = 1800, env: dict[str, str] | None = None
    ) -> Any:
        """Run ``tests/oracle/scripts/<script>.py`` with ``payload`` as JSON on stdin."""
        full_env = dict(os.environ)
        full_env.update(
            {
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "CUDA_VISIBLE_DEVICES": "",
                "PYTHONHASHSEED": "0",
                "TF_ENABLE_ONEDNN_OPTS": "0",
            }
        )
        full_env.pop("PYTHONPATH", None)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [self.python, str(SCRIPTS / f"{script}.py")],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=str(ROOT),
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"oracle script {script} ({self.kind}) failed with {proc.returncode}:\n"
                f"{proc.stderr[-6000:]}\n--- stdout ---\n{proc.stdout[-3000:]}"
            )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if not lines:
            raise AssertionError(
                f"oracle script {script} printed nothing; stderr:\n{proc.stderr[-4000:]}"
            )
        return json.loads(lines[-1])


_ORACLES: dict[str, Oracle] = {}


def get_oracle(kind: str) -> Oracle:
    if kind not in _ORACLES:
        _ORACLES[kind] = Oracle(kind)
    return _ORACLES[kind]


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    """The TensorFlow oracle: tensorflow 2.21.0 + tf_keras 2.21.0 + keras 3.15.1."""
    return get_oracle("tf")


@pytest.fixture(scope="session")
def oracle_jax() -> Oracle:
    """Keras 3.15.1 on the JAX backend (CPU)."""
    return get_oracle("jax")


@pytest.fixture(scope="session")
def oracle_torch() -> Oracle:
    """Keras 3.15.1 on the PyTorch backend (CPU wheel)."""
    return get_oracle("torch")


@pytest.fixture(scope="session")
def oracle_openvino() -> Oracle:
    """OpenVINO's TensorFlow frontend, in an environment without TensorFlow."""
    return get_oracle("openvino")


@pytest.fixture(scope="session")
def oracle_onnx() -> Oracle:
    """tf2onnx (with the tf oracle's TensorFlow) and onnxruntime."""
    return get_oracle("onnx")


@pytest.fixture(scope="session")
def oracle_tensorboard() -> Oracle:
    """TensorBoard 2.21 (its event reader and graph plugin), without TensorFlow."""
    return get_oracle("tensorboard")


@pytest.fixture(scope="session")
def oracle_torchvision() -> Oracle:
    """PyTorch 2.14.1 + torchvision 0.29.1, without TensorFlow (the importers' reference)."""
    return get_oracle("torchvision")


@pytest.fixture(scope="session")
def oracle_flax() -> Oracle:
    """JAX 0.10.2 + Flax 0.12.8 + safetensors, without TensorFlow (the importers' reference)."""
    return get_oracle("flax")
