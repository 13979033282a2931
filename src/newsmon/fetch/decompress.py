"""Response bodies decompressed in bounded pieces, so a compression bomb never sits in memory.

gzip, deflate (zlib-wrapped or raw), brotli and zstd; the caller counts the pieces and stops at its
cap (`newsmon.fetch.http` reads every body through a `Decoder`).
"""

from __future__ import annotations

import codecs
import typing
import zlib
from collections.abc import Iterator

try:
    import brotli
except ImportError:  # pragma: no cover - brotli comes with httpx[brotli]
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard comes with httpx[zstd]
    zstandard = None  # type: ignore[assignment]

# What the client offers in Accept-Encoding: the encodings this module can undo.
ACCEPT_ENCODING = ", ".join(
    ["gzip", "deflate"] + (["br"] if brotli else []) + (["zstd"] if zstandard else [])
)
# Decompressed output is produced at most this much at a time, so a bomb never sits in memory.
_DECODE_CHUNK = 64 * 1024


class Decoder:
    """Streaming decompression yielding at most ~_DECODE_CHUNK bytes per piece (bomb-safe)."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self._zlib: typing.Any = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br" and brotli:
            self._brotli = brotli.Decompressor()
        elif encoding == "zstd" and zstandard:
            self._zstd_out: list[bytes] = []
            self._zstd = zstandard.ZstdDecompressor().stream_writer(
                typing.cast(typing.IO[bytes], _Collector(self._zstd_out, limit)),
                write_size=_DECODE_CHUNK,
            )
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Decompressed pieces of `data` (the caller counts them and stops at its cap)."""
        if self._zlib is not None:
            yield from self._inflate(data)
        elif self.encoding == "br":
            out = self._brotli.process(data, output_buffer_limit=_DECODE_CHUNK)
            yield out
            # A full buffer means more output is pending even when all input was taken.
            while not self._brotli.is_finished() and (
                len(out) >= _DECODE_CHUNK or not self._brotli.can_accept_more_data()
            ):
                out = self._brotli.process(b"", output_buffer_limit=_DECODE_CHUNK)
                yield out
        elif self.encoding == "zstd":
            # zstandard has no output limit per call: the collector stops it at the cap instead.
            self._zstd.write(data)
            yield from self._zstd_out
            self._zstd_out.clear()
        else:
            yield data

    def _first_inflate(self, data: bytes) -> bytes:
        try:
            return bytes(self._zlib.decompress(data, _DECODE_CHUNK))
        except zlib.error:
            if self.encoding != "deflate":
                raise
            # "deflate" is sent both zlib-wrapped (as specified) and raw (by some servers).
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return bytes(self._zlib.decompress(data, _DECODE_CHUNK))

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        try:
            out = (
                self._first_inflate(data)
                if self._first
                else self._zlib.decompress(data, _DECODE_CHUNK)
            )
        except zlib.error:
            if not (self._first and _not_compressed(data)):
                raise
            # Labelled gzip/deflate but sent as is (misconfigured servers do): read it as it is,
            # as feedparser and browsers do, rather than refuse it.
            self._zlib, self.encoding, self._first = None, "identity", False
            yield data
            return
        self._first = False
        while True:
            yield out
            if not self._zlib.unconsumed_tail and len(out) < _DECODE_CHUNK:
                return
            out = self._zlib.decompress(self._zlib.unconsumed_tail, _DECODE_CHUNK)


def _not_compressed(head: bytes) -> bool:
    """Does a body labelled gzip/deflate start like plain text instead (markup, a BOM)?

    Asked only once the body failed to decompress from its first bytes on.
    """
    return head.lstrip(b" \t\r\n").startswith((b"<", codecs.BOM_UTF8, b"\xff\xfe", b"\xfe\xff"))


class OverLimit(Exception):
    """More decompressed output than the caller's cap."""


class _Collector:
    """A file-like sink for zstandard's stream_writer that refuses output beyond `limit`."""

    def __init__(self, out: list[bytes], limit: int) -> None:
        self._out = out
        self._left = limit

    def write(self, data: bytes) -> int:
        self._left -= len(data)
        if self._left < 0:
            raise OverLimit
        self._out.append(bytes(data))
        return len(data)
