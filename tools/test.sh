#!/usr/bin/env bash
# The whole test suite: unit + golden + oracle (real TensorFlow, tf_keras, Keras 3, OpenVINO,
# tf2onnx + onnxruntime) + ruff + mypy.
# Installs the package with its test extras into the current Python, builds the oracle environments
# once (cached outside the repository, see tools/oracle_env.py), then runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'
# Graphviz's `dot` renders what `purekeras plot` writes (the test checks it with the real tool).
if ! command -v dot >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq graphviz >/dev/null; } \
        || echo "test.sh: warning: could not install Graphviz" >&2
fi
"$PY" tools/oracle_env.py ensure tf jax torch openvino onnx tensorboard torchvision flax >/dev/null
"$PY" -m ruff check purekeras_io tools tests
"$PY" -m mypy
"$PY" -m pytest -q "$@"
