"""Oracle: compare our protobuf schemas with TensorFlow 2.21's and tf_keras's own descriptors.

Runs in the oracle venv (see ``tests/conftest.py``). stdin: ``{"files": [<base64 of a serialized
FileDescriptorProto>, ...]}`` with every file of ``purekeras_io._proto``. The last stdout line is
``{"differences": [...], "compared": {...}, "tf_files": [...]}``.

TF's side is the closure of the files that define SavedModel, TensorBundle, checkpoint object
graphs, fingerprints, CheckpointState, the event files' Event and tf_keras's SavedMetadata. Every
message (nested ones and map entries included) and enum of those files is matched with ours by
name relative to the proto package (``tensorflow.X`` <-> ``purekeras_io.tf.X``, tf_keras's
package <-> ``purekeras_io.keras``) and compared field by field: number, type, label, referenced
type (relative name), oneof, presence, packed encoding, json name, deprecation; plus reserved
numbers and names, enum values, and the file (by base name) and syntax each definition lives in.
Anything one side has and the other lacks is a difference too.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from typing import Any

from google.protobuf import descriptor_pb2 as dp
from google.protobuf import descriptor_pool, message_factory, unknown_fields

TF_MODULES = (
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.protobuf.saved_object_graph_pb2",
    "tensorflow.core.protobuf.trackable_object_graph_pb2",
    "tensorflow.core.protobuf.struct_pb2",
    "tensorflow.core.protobuf.saver_pb2",
    "tensorflow.core.protobuf.tensor_bundle_pb2",
    "tensorflow.core.protobuf.fingerprint_pb2",
    "tensorflow.core.framework.variable_pb2",
    "tensorflow.core.framework.graph_debug_info_pb2",
    "tensorflow.python.training.checkpoint_state_pb2",
    "tensorflow.core.util.event_pb2",
)
KERAS_MODULE = "tf_keras.protobuf.saved_metadata_pb2"
TF_PACKAGE = "tensorflow"
OUR_TF_PACKAGE = "purekeras_io.tf"
OUR_KERAS_PACKAGE = "purekeras_io.keras"
# tf_keras keeps a private copy of VersionDef next to SavedMetadata; ours references
# purekeras_io.tf.VersionDef instead. The copy must equal tensorflow.VersionDef field for field
# (checked in main()); references to it then count as references to tensorflow.VersionDef.
KERAS_VERSIONS_FILE = "tf_keras/protobuf/versions.proto"
TYPE_ALIASES = {"keras:VersionDef": "tf:VersionDef"}

F = dp.FieldDescriptorProto
TYPE_NAMES = {value: name for name, value in F.Type.items()}
LABEL_NAMES = {value: name for name, value in F.Label.items()}
PACKABLE = {
    F.TYPE_DOUBLE,
    F.TYPE_FLOAT,
    F.TYPE_INT64,
    F.TYPE_UINT64,
    F.TYPE_INT32,
    F.TYPE_FIXED64,
    F.TYPE_FIXED32,
    F.TYPE_BOOL,
    F.TYPE_UINT32,
    F.TYPE_ENUM,
    F.TYPE_SFIXED32,
    F.TYPE_SFIXED64,
    F.TYPE_SINT32,
    F.TYPE_SINT64,
}


class Side:
    """All messages and enums of one side, keyed by name relative to their proto package."""

    def __init__(
        self, label: str, package_map: dict[str, str], aliases: dict[str, str] | None = None
    ) -> None:
        self.label = label
        self.aliases = aliases or {}
        self.package_map = package_map  # proto package -> namespace tag ("tf" / "keras")
        self.messages: dict[str, tuple[dp.DescriptorProto, dp.FileDescriptorProto]] = {}
        self.enums: dict[str, tuple[dp.EnumDescriptorProto, dp.FileDescriptorProto]] = {}
        self.files: list[str] = []

    def key(self, package: str, name: str) -> str:
        return f"{self.package_map[package]}:{name}"

    def add_file(self, fdp: dp.FileDescriptorProto) -> None:
        if fdp.package not in self.package_map:
            raise SystemExit(f"{self.label}: unexpected package {fdp.package!r} in {fdp.name}")
        self.files.append(fdp.name)
        for enum in fdp.enum_type:
            self._add_enum(fdp, enum.name, enum)
        for msg in fdp.message_type:
            self._add_message(fdp, msg.name, msg)

    def _add_enum(
        self, fdp: dp.FileDescriptorProto, name: str, enum: dp.EnumDescriptorProto
    ) -> None:
        self.enums[self.key(fdp.package, name)] = (enum, fdp)

    def _add_message(self, fdp: dp.FileDescriptorProto, name: str, msg: dp.DescriptorProto) -> None:
        self.messages[self.key(fdp.package, name)] = (msg, fdp)
        for enum in msg.enum_type:
            self._add_enum(fdp, f"{name}.{enum.name}", enum)
        for nested in msg.nested_type:
            self._add_message(fdp, f"{name}.{nested.name}", nested)

    def type_ref(self, type_name: str) -> str:
        """A fully qualified ``.pkg.Name`` as ``tag:Name`` (well-known types stay as they are)."""
        full = type_name.lstrip(".")
        for package in sorted(self.package_map, key=len, reverse=True):
            if full.startswith(package + "."):
                ref = f"{self.package_map[package]}:{full[len(package) + 1 :]}"
                return self.aliases.get(ref, ref)
        return full


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _syntax(fdp: dp.FileDescriptorProto) -> str:
    return fdp.syntax or "proto2"


def _presence(field: dp.FieldDescriptorProto, syntax: str) -> str:
    if field.label == F.LABEL_REPEATED:
        return "repeated"
    if syntax == "proto2" or field.proto3_optional or field.HasField("oneof_index"):
        return "explicit"
    if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
        return "explicit"
    return "implicit"


def _packed(field: dp.FieldDescriptorProto, syntax: str) -> bool:
    if field.label != F.LABEL_REPEATED or field.type not in PACKABLE:
        return False
    if field.options.HasField("packed"):
        return field.options.packed
    return syntax == "proto3"


def _json_name(field: dp.FieldDescriptorProto) -> str:
    """The JSON name in effect: the explicit one, else protobuf's lowerCamelCase of the name."""
    if field.HasField("json_name"):
        return field.json_name
    out, upper_next = [], False
    for char in field.name:
        if char == "_":
            upper_next = True
        else:
            out.append(char.upper() if upper_next else char)
            upper_next = False
    return "".join(out)


def _field_facts(
    side: Side, msg: dp.DescriptorProto, field: dp.FieldDescriptorProto, fdp: dp.FileDescriptorProto
) -> dict[str, Any]:
    syntax = _syntax(fdp)
    oneof = msg.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None
    if field.proto3_optional:
        oneof = "<synthetic>"
    return {
        "number": field.number,
        "type": TYPE_NAMES[field.type],
        "label": LABEL_NAMES[field.label],
        "type_name": side.type_ref(field.type_name) if field.type_name else None,
        "oneof": oneof,
        "presence": _presence(field, syntax),
        "packed": _packed(field, syntax),
        "json_name": _json_name(field),
        "deprecated": field.options.deprecated,
        "default": field.default_value if field.HasField("default_value") else None,
    }


def _ranges(ranges: Any, inclusive_end: bool) -> list[list[int]]:
    # DescriptorProto ranges are [start, end); EnumDescriptorProto ranges are [start, end].
    return sorted([r.start, r.end if inclusive_end else r.end - 1] for r in ranges)


def _where(fdp: dp.FileDescriptorProto) -> dict[str, str]:
    return {"file": _base(fdp.name), "syntax": _syntax(fdp)}


def compare(tf: Side, ours: Side, diffs: list[str], counts: dict[str, int]) -> None:
    for key in sorted(set(tf.messages) | set(ours.messages)):
        if key not in ours.messages:
            diffs.append(f"message {key}: in TF ({tf.messages[key][1].name}), missing in ours")
            continue
        if key not in tf.messages:
            diffs.append(f"message {key}: in ours ({ours.messages[key][1].name}), not in TF")
            continue
        counts["messages"] += 1
        (tm, tfile), (om, ofile) = tf.messages[key], ours.messages[key]
        if _where(tfile) != _where(ofile):
            diffs.append(f"message {key}: TF {_where(tfile)} vs ours {_where(ofile)}")
        if tm.options.map_entry != om.options.map_entry:
            diffs.append(
                f"message {key}: map_entry TF {tm.options.map_entry} vs ours {om.options.map_entry}"
            )
        for what, t_val, o_val in (
            (
                "reserved numbers",
                _ranges(tm.reserved_range, False),
                _ranges(om.reserved_range, False),
            ),
            ("reserved names", sorted(tm.reserved_name), sorted(om.reserved_name)),
            (
                "extension ranges",
                _ranges(tm.extension_range, False),
                _ranges(om.extension_range, False),
            ),
            (
                "oneofs",
                sorted(o.name for o in tm.oneof_decl if not o.name.startswith("_")),
                sorted(o.name for o in om.oneof_decl if not o.name.startswith("_")),
            ),
        ):
            if t_val != o_val:
                diffs.append(f"message {key}: {what} TF {t_val} vs ours {o_val}")
        t_fields = {f.name: f for f in tm.field}
        o_fields = {f.name: f for f in om.field}
        for name in sorted(set(t_fields) | set(o_fields)):
            if name not in o_fields:
                diffs.append(
                    f"field {key}.{name} = {t_fields[name].number}: in TF, missing in ours"
                )
                continue
            if name not in t_fields:
                diffs.append(f"field {key}.{name} = {o_fields[name].number}: in ours, not in TF")
                continue
            counts["fields"] += 1
            t_facts = _field_facts(tf, tm, t_fields[name], tfile)
            o_facts = _field_facts(ours, om, o_fields[name], ofile)
            for fact in t_facts:
                if t_facts[fact] != o_facts[fact]:
                    diffs.append(
                        f"field {key}.{name}: {fact} TF {t_facts[fact]!r} vs ours {o_facts[fact]!r}"
                    )
        if len(o_fields) != len({f.number for f in om.field}):
            diffs.append(f"message {key}: ours reuses a field number")

    for key in sorted(set(tf.enums) | set(ours.enums)):
        if key not in ours.enums:
            diffs.append(f"enum {key}: in TF ({tf.enums[key][1].name}), missing in ours")
            continue
        if key not in tf.enums:
            diffs.append(f"enum {key}: in ours ({ours.enums[key][1].name}), not in TF")
            continue
        counts["enums"] += 1
        (te, tfile), (oe, ofile) = tf.enums[key], ours.enums[key]
        if _where(tfile) != _where(ofile):
            diffs.append(f"enum {key}: TF {_where(tfile)} vs ours {_where(ofile)}")
        t_values = [(v.name, v.number) for v in te.value]
        o_values = [(v.name, v.number) for v in oe.value]
        counts["enum_values"] += len(set(t_values) & set(o_values))
        for name, number in sorted(set(t_values) - set(o_values), key=lambda v: v[1]):
            diffs.append(f"enum value {key}.{name} = {number}: in TF, missing in ours")
        for name, number in sorted(set(o_values) - set(t_values), key=lambda v: v[1]):
            diffs.append(f"enum value {key}.{name} = {number}: in ours, not in TF")
        if t_values[:1] != o_values[:1]:
            diffs.append(
                f"enum {key}: first (default) value TF {t_values[:1]} vs ours {o_values[:1]}"
            )
        for what, t_val, o_val in (
            (
                "reserved numbers",
                _ranges(te.reserved_range, True),
                _ranges(oe.reserved_range, True),
            ),
            ("reserved names", sorted(te.reserved_name), sorted(oe.reserved_name)),
            ("allow_alias", te.options.allow_alias, oe.options.allow_alias),
        ):
            if t_val != o_val:
                diffs.append(f"enum {key}: {what} TF {t_val} vs ours {o_val}")


def _tf_files() -> tuple[list[dp.FileDescriptorProto], dp.FileDescriptorProto, str]:
    seen: dict[str, Any] = {}

    def walk(fd: Any) -> None:
        if fd.name in seen:
            return
        seen[fd.name] = fd
        for dep in fd.dependencies:
            walk(dep)

    for name in (*TF_MODULES, KERAS_MODULE):
        walk(importlib.import_module(name).DESCRIPTOR)
    keras_package = importlib.import_module(KERAS_MODULE).DESCRIPTOR.package
    files = []
    keras_versions = None
    for name in sorted(seen):
        if name.startswith("google/protobuf/"):
            continue
        fdp = dp.FileDescriptorProto()
        seen[name].CopyToProto(fdp)
        if name == KERAS_VERSIONS_FILE:
            keras_versions = fdp
        else:
            files.append(fdp)
    if keras_versions is None:
        raise SystemExit(f"{KERAS_VERSIONS_FILE} is no longer imported by {KERAS_MODULE}")
    return files, keras_versions, keras_package


def _check_keras_versions(
    keras_versions: dp.FileDescriptorProto, tf: Side, diffs: list[str]
) -> None:
    """tf_keras's VersionDef copy must be the same message as tensorflow.VersionDef."""
    copies = {m.name: m for m in keras_versions.message_type}
    for alias, target in TYPE_ALIASES.items():
        copy = copies.get(alias.split(":", 1)[1])
        original = tf.messages[target][0]
        if copy is None or copy.SerializeToString(deterministic=True) != original.SerializeToString(
            deterministic=True
        ):
            diffs.append(f"{KERAS_VERSIONS_FILE}: {alias} differs from {target}; alias invalid")
    if (
        sorted(copies) != sorted(a.split(":", 1)[1] for a in TYPE_ALIASES)
        or keras_versions.enum_type
    ):
        diffs.append(f"{KERAS_VERSIONS_FILE}: defines more than {sorted(TYPE_ALIASES)}")


def _load_into_default_pool(blobs: list[bytes], diffs: list[str]) -> bool:
    """Add our files to the process-wide pool that already holds TF's: they must coexist."""
    by_name = {dp.FileDescriptorProto.FromString(b).name: b for b in blobs}
    done: set[str] = set()

    def add(name: str) -> None:
        if name in done:
            return
        for dep in dp.FileDescriptorProto.FromString(by_name[name]).dependency:
            if dep in by_name:
                add(dep)
        descriptor_pool.Default().AddSerializedFile(by_name[name])
        done.add(name)

    try:
        for name in sorted(by_name):
            add(name)
    except Exception as exc:  # the exact error type differs between protobuf backends
        diffs.append(f"coexistence: our files do not load next to TF's: {exc!r}")
        return False
    return True


def _unknown_fields(msg: Any, path: str) -> list[str]:
    """Every (sub)message of ``msg`` that kept fields our schema does not know."""
    count = len(unknown_fields.UnknownFieldSet(msg))
    found = [f"{path}: {count} unknown field(s)"] if count else []
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            items = list(value.items()) if value_field.message_type is not None else []
            for key, item in items:
                found += _unknown_fields(item, f"{path}.{field.name}[{key!r}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                found += _unknown_fields(item, f"{path}.{field.name}[{i}]")
        else:
            found += _unknown_fields(value, f"{path}.{field.name}")
    return found


def _real_files() -> dict[str, tuple[str, bytes]]:
    """Small files written by TF 2.21 / tf_keras: name -> (``tag:Message``, bytes)."""
    import os
    import tempfile

    import numpy as np
    import tensorflow as tf
    import tf_keras

    folder = os.path.join(tempfile.mkdtemp(prefix="proto-drift-"), "model")
    model = tf_keras.Sequential([tf_keras.layers.Input((3,)), tf_keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    model.save(folder, save_format="tf")

    def read(name: str) -> bytes:
        with open(os.path.join(folder, name), "rb") as f:
            return f.read()

    reader = tf.train.load_checkpoint(os.path.join(folder, "variables", "variables"))
    graph = reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    return {
        "saved_model.pb": ("tf:SavedModel", read("saved_model.pb")),
        "fingerprint.pb": ("tf:FingerprintDef", read("fingerprint.pb")),
        "keras_metadata.pb": ("keras:SavedMetadata", read("keras_metadata.pb")),
        "_CHECKPOINTABLE_OBJECT_GRAPH": ("tf:TrackableObjectGraph", graph),
    }


def _wire_check(keras_package: str, diffs: list[str]) -> list[str]:
    """Parse real TF-written files with our classes: nothing unknown, same bytes back.

    Both sides re-encode deterministically before comparing, since TF writes maps in hash order.
    """
    pool = descriptor_pool.Default()
    ours = {"tf": OUR_TF_PACKAGE, "keras": OUR_KERAS_PACKAGE}
    theirs = {"tf": TF_PACKAGE, "keras": keras_package}
    checked = []
    for name, (key, data) in _real_files().items():
        tag, short = key.split(":", 1)
        our_cls = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{ours[tag]}.{short}")
        )
        tf_cls = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{theirs[tag]}.{short}")
        )
        msg = our_cls.FromString(data)
        for problem in _unknown_fields(msg, name)[:20]:
            diffs.append(f"wire: {problem}")
        tf_bytes = tf_cls.FromString(data).SerializeToString(deterministic=True)
        if msg.SerializeToString(deterministic=True) != tf_bytes:
            diffs.append(f"wire: {name}: re-serialised bytes differ from TF's")
        checked.append(f"{name} ({len(data)} bytes)")
    return checked


def main() -> None:
    payload = json.loads(sys.stdin.read())
    tf_files, keras_versions, keras_package = _tf_files()
    tf = Side("TF", {TF_PACKAGE: "tf", keras_package: "keras"}, TYPE_ALIASES)
    for fdp in tf_files:
        tf.add_file(fdp)
    blobs = [base64.b64decode(blob) for blob in payload["files"]]
    ours = Side("ours", {OUR_TF_PACKAGE: "tf", OUR_KERAS_PACKAGE: "keras"})
    for blob in blobs:
        ours.add_file(dp.FileDescriptorProto.FromString(blob))

    diffs: list[str] = []
    _check_keras_versions(keras_versions, tf, diffs)
    counts = {"messages": 0, "enums": 0, "fields": 0, "enum_values": 0}
    compare(tf, ours, diffs, counts)

    t_bases = sorted(_base(f) for f in tf.files)
    o_bases = sorted(_base(f) for f in ours.files)
    if t_bases != o_bases:
        diffs.append(f"files: TF {t_bases} vs ours {o_bases}")
    wire_checked = (
        _wire_check(keras_package, diffs) if _load_into_default_pool(blobs, diffs) else []
    )
    import tensorflow as tf_module

    print(
        json.dumps(
            {
                "differences": diffs,
                "compared": counts,
                "tf_files": sorted(tf.files),
                "wire_checked": wire_checked,
                "tf_version": tf_module.__version__,
                "keras_package": keras_package,
            }
        )
    )


if __name__ == "__main__":
    main()
