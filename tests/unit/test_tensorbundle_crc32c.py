"""CRC-32C and masking (``tensorbundle.md`` §6, ``toolchain.md`` §4)."""

from __future__ import annotations

import mmap

import google_crc32c
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purekeras_io.tensorbundle import crc32c


def test_check_value() -> None:
    assert crc32c.value(b"123456789") == 0xE3069283
    assert crc32c.value(b"") == 0


def test_fast_path_is_used() -> None:
    assert crc32c.IMPLEMENTATION == "google_crc32c"


@pytest.mark.parametrize(
    ("plain", "masked"),
    [
        (0xE3069283, 0xC78AB0E5),
        (0, 0xA282EAD8),  # mask(crc32c(b""))
        (0xBCC5563E, 0x4F006462),  # model (a) bias entry
        (0xDEF62429, 0xEAD6A8C4),  # model (a) kernel entry
        (0x01256174, 0x656AED22),  # model (a) object graph entry
    ],
)
def test_mask_vectors(plain: int, masked: int) -> None:
    assert crc32c.mask(plain) == masked
    assert crc32c.unmask(masked) == plain


def test_metaindex_trailer_crc() -> None:
    empty_block = bytes.fromhex("0000000001000000")
    assert crc32c.mask(crc32c.value(empty_block + b"\x00")) == 0xB0A1F2C0


def test_string_length_crc_of_model_a() -> None:
    # 1972 as uint32 LE → masked 0x882b4180 (§5.1 example)
    assert crc32c.mask(crc32c.value((1972).to_bytes(4, "little"))) == 0x882B4180


@given(st.integers(0, 2**32 - 1))
def test_mask_unmask_inverse(c: int) -> None:
    assert crc32c.unmask(crc32c.mask(c)) == c
    assert crc32c.mask(crc32c.unmask(c)) == c


def test_accepts_every_buffer_kind_without_api_quirks() -> None:
    data = bytes(range(256)) * 37
    expected = google_crc32c.value(data)
    arr = np.frombuffer(data, dtype=np.uint8).copy()  # writable
    readonly = arr.view()
    readonly.flags.writeable = False
    mm = mmap.mmap(-1, len(data))
    mm.write(data)
    for buf in (
        data,
        bytearray(data),
        memoryview(data),
        memoryview(bytearray(data)),
        arr,
        readonly,
        arr.view(np.uint32).reshape(37, 64),  # multi-byte dtype, 2-D
        mm,
    ):
        assert crc32c.value(buf) == expected, type(buf)
    mm.close()


def test_non_contiguous_array_is_checksummed_in_c_order() -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6).T
    assert crc32c.value(a) == crc32c.value(np.ascontiguousarray(a).tobytes())


def test_extend_equals_value_of_concatenation() -> None:
    a, b = b"hello ", b"world" * 1000
    assert crc32c.extend(crc32c.value(a), b) == crc32c.value(a + b)


@pytest.mark.parametrize("n", [0, 1, 63, 64 * 4096 - 1, 64 * 4096 + 17, (1 << 22) + 12345])
def test_numpy_fallback_matches(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    assert crc32c._numpy_extend(0, data) == google_crc32c.value(data.tobytes())
    assert crc32c._numpy_extend(0xDEADBEEF, data) == google_crc32c.extend(
        0xDEADBEEF, data.tobytes()
    )


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 2**32 - 1))
def test_numpy_fallback_property(data: bytes, start: int) -> None:
    assert crc32c._numpy_extend(start, data) == google_crc32c.extend(start, data)
