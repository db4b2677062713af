"""Merging bundles into one multi-shard bundle like TF's ``MergeBundles``; spec: ``tensorbundle.md``
§9.

::

    inputs  a.index a.data-00000-of-00001      b.index b.data-00000-of-00002 b.data-00001-of-00002
    output  out.index  out.data-00000-of-00003  out.data-00001-of-00003  out.data-00002-of-00003

* header: ``num_shards`` = sum over the inputs; endianness and version from the first input, and
  every other input must have the same (else :class:`~purekeras_io.errors.FormatError`).
* shard ids: each input is walked in key order; a data file gets the next new id the first time an
  entry refers to it (TF's first-seen order). Data files no entry refers to (only empty bundles
  have them) get the remaining ids afterwards, in input and shard order, so that every input
  shard is accounted for. TF 2.21 leaves those files behind and names the others
  ``-of-<number of referenced shards>`` while the header says the sum, so its result cannot be
  read; whenever every shard holds a tensor both give identical bytes.
* entries: all keys sorted bytewise, ``shard_id`` remapped, otherwise re-serialized unchanged;
  a key present in two inputs is an error, except the full entry of a partitioned tensor
  (``slices.py``): those of one key are joined, ``slices`` appended in input order, and must
  agree on dtype and shape (TF's ``MergeOneBundle``).
* files: everything is read and checked first; then the new index is written under a temporary
  name, the data files are renamed to ``<out>.data-%05d-of-%05d``, the index is moved into place,
  and the input ``.index`` files are deleted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence

from .._io import commit, remove_quietly, temp_sibling
from .._proto.tf import tensor_bundle_pb2
from ..errors import FormatError
from .format import HEADER_KEY, data_filename, index_filename
from .reader import decode_entry, decode_key, read_index
from .sstable import TableBuilder
from .writer import BundleKeyError

__all__ = ["MAX_SHARDS", "merge"]

MAX_SHARDS = 99999
"""Largest ``num_shards`` accepted per input (the ``%05d`` file-name field)."""


def merge(prefixes: Sequence[str | os.PathLike[str]], out_prefix: str | os.PathLike[str]) -> None:
    """Merge the bundles at ``prefixes`` into ``out_prefix`` (their data files are renamed and
    their index files deleted)."""
    inputs = [os.fspath(p) for p in prefixes]
    out = os.fspath(out_prefix)
    if not inputs:
        raise ValueError("merge: prefixes must name at least one bundle")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"merge: prefixes contain duplicates: {inputs}")

    num_shards = 0
    first_header: tensor_bundle_pb2.BundleHeaderProto | None = None
    entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
    owner: dict[bytes, str] = {}
    new_ids: dict[str, int] = {}  # input data file -> new shard id
    all_files: list[str] = []
    for prefix in inputs:
        header, items = read_index(prefix)
        name = index_filename(prefix)
        proto = tensor_bundle_pb2.BundleHeaderProto()
        proto.ParseFromString(header.raw)
        if header.num_shards > MAX_SHARDS:
            raise FormatError(f"{name}: num_shards {header.num_shards} exceeds {MAX_SHARDS}")
        if first_header is None:
            first_header = proto
        elif proto.endianness != first_header.endianness:
            raise FormatError(f"{name}: merging bundles with conflicting endianness")
        elif proto.version.SerializeToString() != first_header.version.SerializeToString():
            raise FormatError(
                f"{name}: merging bundles with different format versions: "
                f"{first_header.version} vs {proto.version}"
            )
        num_shards += header.num_shards
        files = [data_filename(prefix, i, header.num_shards) for i in range(header.num_shards)]
        all_files.extend(files)
        for raw_key, raw_entry in items:
            key = decode_key(raw_key)
            entry = decode_entry(raw_entry, key=key, name=name, num_shards=header.num_shards)
            known = entries.get(raw_key)
            if known is not None and known.slices and entry.slices:
                if known.dtype != entry.dtype or known.shape != entry.shape:
                    raise FormatError(
                        f"merge: partitioned tensor {key!r} in {prefix!r} has dtype "
                        f"{entry.dtype} shape {entry.shape}, in {owner[raw_key]!r} dtype "
                        f"{known.dtype} shape {known.shape}"
                    )
                known.slices.extend(entry.slices)
                continue
            if known is not None:
                raise BundleKeyError(
                    f"merge: duplicate tensor key {key!r} in {prefix!r} "
                    f"(also in {owner[raw_key]!r})"
                )
            if not entry.slices:  # a partitioned tensor's full entry has no data, no shard
                entry.shard_id = new_ids.setdefault(files[entry.shard_id], len(new_ids))
            entries[raw_key] = entry
            owner[raw_key] = prefix
    for source in all_files:
        if source not in new_ids and os.path.exists(source):
            new_ids[source] = len(new_ids)
    missing = [source for source in new_ids if not os.path.exists(source)]
    if missing:
        raise FileNotFoundError(f"merge: data files are missing: {missing}")
    assert first_header is not None
    merged_header = tensor_bundle_pb2.BundleHeaderProto()
    merged_header.num_shards = num_shards
    merged_header.endianness = first_header.endianness
    merged_header.version.CopyFrom(first_header.version)

    folder = os.path.dirname(out)
    if folder:
        os.makedirs(folder, exist_ok=True)
    out_index = index_filename(out)
    index_tmp = temp_sibling(out_index, marker="tempstate", hidden=False)
    try:
        with open(index_tmp, "xb") as f:
            table = TableBuilder(f)
            table.add(HEADER_KEY, merged_header.SerializeToString())
            for raw_key in sorted(entries):
                table.add(raw_key, entries[raw_key].SerializeToString())
            table.finish()
        _rename_all([(src, data_filename(out, i, num_shards)) for src, i in new_ids.items()])
        commit(index_tmp, out_index)
    except BaseException:
        remove_quietly(index_tmp)
        raise
    for prefix in inputs:
        path = index_filename(prefix)
        if os.path.abspath(path) != os.path.abspath(out_index):
            remove_quietly(path)


def _rename_all(moves: list[tuple[str, str]]) -> None:
    """Rename every source to its target, even where a target is another move's source."""
    moves = [(s, t) for s, t in moves if os.path.abspath(s) != os.path.abspath(t)]
    targets = {os.path.abspath(t) for _, t in moves}
    staged: list[tuple[str, str]] = []
    token = secrets.randbits(63)
    for source, target in moves:
        if os.path.abspath(source) in targets:
            temp = f"{source}.merging{token}"
            os.replace(source, temp)
            staged.append((temp, target))
        else:
            staged.append((source, target))
    for source, target in staged:
        os.replace(source, target)
