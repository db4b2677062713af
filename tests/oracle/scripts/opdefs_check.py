"""Oracle: our op table (``purekeras_io/graph/opdefs.py``) against TensorFlow 2.21's op registry.

stdin: ``{"op_list": <hex of our serialized OpList>}``. For each of our OpDefs, TensorFlow's
OpDef of the same name is reduced to what our table states (names, argument types and
attributes, attribute kinds, defaults and minimums, ``is_stateful``; descriptions, allowed
values, full types and other hints dropped) and compared. Last stdout line:
``{"missing": [names], "different": {name: [ours, tf]}, "checked": n}``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _reduce(op):  # type: ignore[no-untyped-def]
    from tensorflow.core.framework import op_def_pb2

    out = op_def_pb2.OpDef()
    out.name = op.name
    for src, dst in ((op.input_arg, out.input_arg), (op.output_arg, out.output_arg)):
        for a in src:
            b = dst.add()
            b.name, b.type, b.type_attr = a.name, a.type, a.type_attr
            b.number_attr, b.type_list_attr = a.number_attr, a.type_list_attr
    for a in op.attr:
        b = out.attr.add()
        b.name, b.type = a.name, a.type
        if a.HasField("default_value"):
            b.default_value.CopyFrom(a.default_value)
        if a.has_minimum:
            b.has_minimum, b.minimum = True, a.minimum
    out.is_stateful = op.is_stateful
    return out


def main() -> None:
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.framework import op_def_registry

    payload = json.loads(sys.stdin.read())
    ours = op_def_pb2.OpList.FromString(bytes.fromhex(payload["op_list"]))
    missing, different = [], {}
    for op in ours.op:
        theirs = op_def_registry.get(op.name)
        if theirs is None:
            missing.append(op.name)
            continue
        reduced = _reduce(theirs)
        mine = _reduce(op)
        # float defaults: compare as float32, as TensorFlow stores them
        for a, b in zip(mine.attr, reduced.attr):
            both = b.default_value.HasField("f") and a.default_value.HasField("f")
            if a.type == "float" and both:
                import numpy as np

                if np.float32(a.default_value.f) == np.float32(b.default_value.f):
                    a.default_value.f = b.default_value.f
        if mine != reduced:
            different[op.name] = [str(mine), str(reduced)]
    print(json.dumps({"missing": missing, "different": different, "checked": len(ours.op)}))


if __name__ == "__main__":
    main()
