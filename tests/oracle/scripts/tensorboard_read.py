"""Oracle for ``purekeras tensorboard``: TensorBoard 2.21's own event reader, no TensorFlow.

stdin: ``{"logdirs": {id: folder}}``. For each folder: ``EventAccumulator(folder).Reload()``,
then ``Graph()`` (the GraphDef of the run, through tensorboard.compat's own protos); reports the
node count, the ops of the main graph and of the function library.
Last stdout line: ``{"runs": {id: {...}}, "tensorflow_importable", "version"}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from typing import Any


def read(folder: str) -> dict[str, Any]:
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(folder)
    acc.Reload()
    tags = acc.Tags()
    graph = acc.Graph()
    lib_ops = sorted({n.op for f in graph.library.function for n in f.node_def})
    return {"has_graph": bool(tags.get("graph")), "nodes": len(graph.node),
            "ops": sorted({n.op for n in graph.node}), "functions": len(graph.library.function),
            "library_ops": lib_ops}


def main() -> None:
    payload = json.loads(sys.stdin.read())
    runs = {}
    for rid, folder in payload["logdirs"].items():
        try:
            runs[rid] = read(folder)
        except Exception as exc:
            runs[rid] = {"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"}
    import tensorboard

    print(json.dumps({"runs": runs, "version": tensorboard.__version__,
                      "tensorflow_importable": importlib.util.find_spec("tensorflow") is not None}))


if __name__ == "__main__":
    main()
