"""Primitive reads of the wasm binary format (LEB128, names, vectors), with offsets in every error.

Layered like pyelftools: this knows bytes, `module.py` knows sections, `code.py` knows instructions.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from ..errors import DecodeError

T = TypeVar("T")


def count(n: int, word: str) -> str:
    """`1 byte`, `2 bytes`: errors read as sentences (the C scanner says the same, see accel/native/decode.c's PL)."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _check_sign_extension(r: "Reader", b: int, used: int, bits: int, start: int) -> None:
    v = b & 0x7F
    sign = v >> (used - 1) & 1
    if v >> used != (0x7F >> used if sign else 0):
        raise r.error(f"bad LEB128: value does not fit in {bits} bits", start)


class Reader:
    """A cursor over `data[pos:end]` that raises `DecodeError` with the absolute offset."""

    __slots__ = ("data", "pos", "end", "path")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, path: str = "<wasm>") -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.path = path

    def error(self, message: str, offset: int | None = None) -> DecodeError:
        return DecodeError(self.path, self.pos if offset is None else offset, message)

    def at_end(self) -> bool:
        return self.pos >= self.end

    def u8(self) -> int:
        if self.pos >= self.end:
            raise self.error("unexpected end of data (truncated file or section size past its end)")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise self.error(f"unexpected end of data: {count(n, 'byte')} wanted, {self.end - self.pos} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(out)

    def _leb(self, max_bytes: int, signed: bool, bits: int = 0) -> int:
        start = self.pos
        result = shift = 0
        for i in range(max_bytes):
            b = self.u8()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if signed and i == max_bytes - 1 and bits:
                    _check_sign_extension(self, b, bits - 7 * i, bits, start)
                if signed and b & 0x40:
                    result -= 1 << shift
                return result
        raise self.error(f"bad LEB128: longer than {max_bytes} bytes", start)

    def uleb(self, max_bytes: int = 5, bits: int = 32) -> int:
        start = self.pos
        result = self._leb(max_bytes, signed=False)
        if result >> bits:
            raise self.error(f"bad LEB128: value does not fit in {bits} bits", start)
        return result

    def u32(self) -> int:
        pos, data = self.pos, self.data
        if pos + 5 <= self.end:  # fast path: indices and sizes of up to 3 bytes, far from the end
            b = data[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
            b2 = data[pos + 1]
            if b2 < 0x80:
                self.pos = pos + 2
                return (b & 0x7F) | b2 << 7
            b3 = data[pos + 2]
            if b3 < 0x80:
                self.pos = pos + 3
                return (b & 0x7F) | (b2 & 0x7F) << 7 | b3 << 14
        return self.uleb(5, 32)

    def u64(self) -> int:
        return self.uleb(10, 64)

    def sleb(self, max_bytes: int, bits: int) -> int:
        """A signed LEB128 of `bits` bits: in the longest form, the last byte's unused bits must repeat
        the sign (the spec's "integer too large" otherwise)."""
        return self._leb(max_bytes, True, bits)

    def s33(self) -> int:
        return self.sleb(5, 33)

    def name(self) -> str:
        start = self.pos
        n = self.u32()
        if self.pos + n > self.end:
            raise self.error(f"unexpected end of data: a name of {count(n, 'byte')}, {self.end - self.pos} left")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"name is not valid UTF-8 (byte {exc.start} of the name)", start) from None

    def vec(self, item: Callable[[], T]) -> list[T]:
        n = self.u32()
        if n > self.end - self.pos:  # every item takes at least one byte: refuse absurd counts early
            raise self.error(f"vector of {count(n, 'item')} cannot fit in the {count(self.end - self.pos, 'byte')} left")
        return [item() for _ in range(n)]

    def sub(self, size: int) -> "Reader":
        """A reader for the next `size` bytes (a section or body); advances past them."""
        if size > self.end - self.pos:
            raise self.error(f"size {size} runs past the end ({count(self.end - self.pos, 'byte')} left)")
        r = Reader(self.data, self.pos, self.pos + size, self.path)
        self.pos += size
        return r
