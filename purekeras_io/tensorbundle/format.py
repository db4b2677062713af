"""TensorBundle (TF V2 checkpoint) constants and layout; spec: ``shared/docs/tensorbundle.md``.

A bundle is ``<prefix>.index`` (an SSTable of metadata) plus data files
``<prefix>.data-%05d-of-%05d`` (raw tensor bytes, no padding)::

    <prefix>.index
      [data block 0][trailer] … [data block n-1][trailer]     sorted entries (§3.1, §3.2)
      [metaindex block][trailer]                               always empty: 13 bytes
      [index block][trailer]                                   one entry per data block (§3.4)
      [footer]                                                 48 bytes (§3.5)

    block    := entry* | fixed32 restart_offset[k] | fixed32 k
    entry    := varint32 shared | varint32 non_shared | varint32 value_len
                | key[shared:] | value
    trailer  := u8 compression (0 = none) | fixed32 mask(crc32c(block ‖ compression))
    footer   := BlockHandle(metaindex) | BlockHandle(index) | zeros to 40 bytes
                | fixed32 0x8b80fb57 | fixed32 0xdb477524
    BlockHandle := varint64 offset | varint64 size          (size excludes the trailer)

    table entries: ""  → BundleHeaderProto {num_shards, endianness, version{producer=1}}
                   key → BundleEntryProto {dtype, shape, shard_id, offset, size, crc32c}

    data file: tensors back to back in the order they were added; numeric tensors are raw
    little-endian C-order bytes; DT_STRING tensors are (§5.1)
      [varint64 len_i]* | fixed32 mask(crc(lengths as u32 LE)) | bytes_0 … bytes_{n-1}
"""

from __future__ import annotations

__all__ = [
    "BLOCK_RESTART_INTERVAL",
    "BLOCK_SIZE",
    "BLOCK_TRAILER_SIZE",
    "COMPRESSION_NONE",
    "COMPRESSION_SNAPPY",
    "CRC_MASK_DELTA",
    "ENDIAN_BIG",
    "ENDIAN_LITTLE",
    "FOOTER_SIZE",
    "HEADER_KEY",
    "INDEX_RESTART_INTERVAL",
    "MAGIC",
    "MAX_BLOCK_HANDLE_SIZE",
    "MIN_PRODUCER",
    "TENSOR_BUNDLE_VERSION",
    "VERSION_MIN_CONSUMER",
    "data_filename",
    "index_filename",
]

BLOCK_SIZE = 262144
"""Data blocks are flushed once their size estimate reaches this (TF's bundle value, §3.2)."""
BLOCK_RESTART_INTERVAL = 16
"""Entries between restart points in data blocks."""
INDEX_RESTART_INTERVAL = 1
"""Every index-block entry is a restart point."""
BLOCK_TRAILER_SIZE = 5
"""Compression byte plus masked CRC-32C after every block."""
COMPRESSION_NONE = 0
COMPRESSION_SNAPPY = 1
MAX_BLOCK_HANDLE_SIZE = 20
"""Two varint64s at most 10 bytes each."""
FOOTER_SIZE = 48
"""``2 * MAX_BLOCK_HANDLE_SIZE`` bytes of handles and padding plus the 8-byte magic."""
MAGIC = 0xDB4775248B80FB57
"""Table magic, written as fixed32 low word then fixed32 high word: ``57 fb 80 8b 24 75 47 db``."""
CRC_MASK_DELTA = 0xA282EAD8
"""Added by the CRC mask (§6)."""

HEADER_KEY = b""
"""The table key of the ``BundleHeaderProto``; every other key maps to a ``BundleEntryProto``."""
ENDIAN_LITTLE = 0
ENDIAN_BIG = 1
TENSOR_BUNDLE_VERSION = 1
"""``VersionDef.producer`` we write and the consumer version we are (``kTensorBundleVersion``)."""
VERSION_MIN_CONSUMER = 0
"""``VersionDef.min_consumer`` we write (0: omitted on the wire)."""
MIN_PRODUCER = 0
"""Oldest ``VersionDef.producer`` a reader accepts (TF's ``kTensorBundleMinProducer``)."""


def index_filename(prefix: str) -> str:
    """``<prefix>.index``."""
    return f"{prefix}.index"


def data_filename(prefix: str, shard_id: int, num_shards: int) -> str:
    """``<prefix>.data-%05d-of-%05d`` (single shard: ``.data-00000-of-00001``)."""
    return f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"
