"""GF(2) arithmetic for reflected 32-bit CRCs: combining CRCs of concatenated pieces.

For a CRC with reflected polynomial ``P`` (CRC-32: ``0xEDB88320``, zip; CRC-32C: ``0x82F63B78``,
TensorBundle), ``crc(A ‖ B) = (x^(8·len B) · crc(A) mod P) xor crc(B)``, as zlib's
``crc32_combine``. Polynomials are stored reflected: ``x^k`` is bit ``31 - k``.
"""

from __future__ import annotations

__all__ = ["CrcCombiner"]


class CrcCombiner:
    """zlib's ``multmodp`` / ``x2nmodp`` / ``crc32_combine`` for one reflected polynomial."""

    def __init__(self, poly: int) -> None:
        self.poly = poly
        x2n = [1 << 30]  # x^(2^k) mod P for k = 0…31, as zlib's x2n_table
        for _ in range(1, 32):
            x2n.append(self.multmodp(x2n[-1], x2n[-1]))
        self._x2n = x2n

    def multmodp(self, a: int, b: int) -> int:
        """``a(x) · b(x) mod P``."""
        poly = self.poly
        m = 1 << 31
        p = 0
        while True:
            if a & m:
                p ^= b
                if (a & (m - 1)) == 0:
                    break
            m >>= 1
            b = (b >> 1) ^ poly if b & 1 else b >> 1
        return p

    def x8nmodp(self, n: int) -> int:
        """``x^(8n) mod P``: the operator that appends ``n`` zero bytes to a CRC."""
        p = 1 << 31  # x^0
        k = 3
        while n:
            if n & 1:
                p = self.multmodp(self._x2n[k & 31], p)
            n >>= 1
            k += 1
        return p

    def combine(self, crc1: int, crc2: int, len2: int) -> int:
        """The CRC of ``A ‖ B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``."""
        return self.multmodp(self.x8nmodp(len2), crc1) ^ crc2
