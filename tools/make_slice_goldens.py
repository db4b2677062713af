"""Golden partitioned-tensor bundles made by TensorFlow itself (run in the tf oracle venv):

    $(python tools/oracle_env.py path tf)/bin/python tools/make_slice_goldens.py

``one``: one SaveV2 of ``x`` (float32 [4, 3]) in two row slices and ``y`` (int64 [5]);
``merged``: the MergeV2Checkpoints of two bundles holding one slice each (the second spells its
whole dimension as ``0,3``). tests/unit/test_tensorbundle_slices.py compares our bytes with them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "tensorbundle_slices")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    tmp = os.path.join(OUT, "_parts")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.arange(5, dtype=np.int64)
    tf.raw_ops.SaveV2(prefix=f"{OUT}/one", tensor_names=["x", "x", "y"],
                      shape_and_slices=["4 3 0,2:-", "4 3 2,2:-", ""], tensors=[x[:2], x[2:], y])
    tf.raw_ops.SaveV2(prefix=f"{tmp}/w0", tensor_names=["x", "y"],
                      shape_and_slices=["4 3 0,2:-", ""], tensors=[x[:2], y])
    tf.raw_ops.SaveV2(prefix=f"{tmp}/w1", tensor_names=["x"], shape_and_slices=["4 3 2,2:0,3"],
                      tensors=[x[2:]])
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[f"{tmp}/w0", f"{tmp}/w1"],
                                  destination_prefix=f"{OUT}/merged", delete_old_dirs=True)
    print(sorted(os.listdir(OUT)), file=sys.stderr)


if __name__ == "__main__":
    main()
