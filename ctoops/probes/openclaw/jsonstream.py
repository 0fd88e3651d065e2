"""Stream the members of one big top-level JSON object, one at a time.

Why: the gateway's `sessions.json` is one JSON object (session key -> entry) that
real installations grow past 100 MB, and `json.load` would hold the text and the
parsed tree at once. Here the file is read in chunks through an incremental
UTF-8 decoder into a sliding buffer; each member is parsed with the C decoder's
`raw_decode` and handed to the caller, who keeps only the fields it needs. The
buffer holds about one chunk plus one member, whatever the file size.

What it deliberately does not do: stream nested objects (a member is parsed
whole; a member larger than `max_member_bytes` is an error, not a memory spike),
repair bad input, or guess an encoding (non-UTF-8 bytes are an error naming the
byte offset).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 20
MAX_MEMBER_BYTES = 32 << 20
_WS = re.compile(r"[ \t\n\r]*")
_NEAR_END = 16  # a decode error this close to the buffer's end may be a cut, not a fault


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the gateway's JSON.parse rejects the whole store
    # (and reads it as empty), so it must not look readable here (store_spans agrees).
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_NUMBER_CHARS = frozenset("0123456789.eE+-")


class StreamError(ValueError):
    """The input is not one well-formed JSON object; `offset` is where it broke
    (a character offset into the text, or a byte offset for encoding errors)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.offset = offset


def _number_may_go_on(value: Any, buf: str, end: int) -> bool:
    """A number cut by the chunk boundary still parses ("12" of "125", "0" of "0.5"):
    only a number needs the next character to know it ended."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return end >= len(buf) or buf[end] in _NUMBER_CHARS


class _Reader:
    def __init__(self, fh: BinaryIO, chunk: int) -> None:
        self.fh = fh
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of buf so far
        self.bytes_read = 0
        self.eof = False

    def fill(self, at_least: int = 0) -> bool:
        """Drop what was consumed, append at least one more chunk; False at EOF."""
        if self.eof:
            return False
        self.base += self.pos
        self.buf = self.buf[self.pos:]
        self.pos = 0
        want = max(self.chunk, at_least)
        pieces: list[str] = []
        got = 0
        while got < want:
            data = self.fh.read(want - got)
            if not data:
                pieces.append(self._decode(b"", final=True))
                self.eof = True
                break
            pieces.append(self._decode(data, final=False))
            self.bytes_read += len(data)
            got += len(data)
        self.buf += "".join(pieces)
        return True

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            return self.decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            offset = self.bytes_read + max(0, exc.start)
            raise StreamError(f"not UTF-8: {exc.reason}", offset) from None

    def offset(self) -> int:
        return self.base + self.pos

    def skip_ws(self) -> str:
        """The next non-blank character ('' at the end of the input)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def value(self, max_bytes: int) -> Any:
        """Decode one complete JSON value at the cursor, reading more as needed."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - _NEAR_END
                if not cut or self.eof:
                    where = self.base + exc.pos
                    if self.eof and cut:
                        raise StreamError(f"truncated or malformed: {exc.msg}", where) from None
                    raise StreamError(exc.msg, where) from None
                self._grow(max_bytes)
                continue
            except (RecursionError, ValueError) as exc:  # nested too deep; a 5000-digit number
                raise StreamError(f"a member cannot be read: {exc}", self.offset()) from None
            if not self.eof and _number_may_go_on(value, self.buf, end):
                self._grow(max_bytes)
                continue
            self.pos = end
            return value

    def _grow(self, max_bytes: int) -> None:
        pending = len(self.buf) - self.pos
        if pending > max_bytes:
            raise StreamError(f"one member is larger than {max_bytes >> 20} MiB, or the text "
                              "is malformed", self.offset())
        self.fill(at_least=pending)  # doubling: re-parsing stays linear overall


def iter_object_items(fh: BinaryIO, chunk_bytes: int = CHUNK_BYTES,
                      max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[tuple[str, Any]]:
    """Yield (key, value) for each member of the top-level object in `fh`.

    Raises StreamError for an empty file, a top level that is not an object,
    truncated or malformed text, non-UTF-8 bytes, or data after the object.
    Members already yielded stay valid: the caller decides what a late error means.
    """
    r = _Reader(fh, chunk_bytes)
    r.fill()
    if r.buf.startswith("\ufeff"):
        r.pos = 1
    first = r.skip_ws()
    if first == "":
        raise StreamError("empty file: expected a JSON object", 0)
    if first != "{":
        raise StreamError(f"the top level is not a JSON object (starts with {first!r})",
                          r.offset())
    r.pos += 1
    expect_member = False
    while True:
        ch = r.skip_ws()
        if ch == "":
            raise StreamError("truncated: the object is not closed", r.offset())
        if ch == "}" and not expect_member:
            r.pos += 1
            break
        if ch != '"':
            raise StreamError(f"expected a member name, found {ch!r}", r.offset())
        key = r.value(max_member_bytes)
        if r.skip_ws() != ":":
            raise StreamError("expected ':' after a member name", r.offset())
        r.pos += 1
        if r.skip_ws() == "":
            raise StreamError("truncated: a member has no value", r.offset())
        yield key, r.value(max_member_bytes)
        sep = r.skip_ws()
        if sep == ",":
            r.pos += 1
            expect_member = True
            continue
        if sep == "}":
            r.pos += 1
            break
        if sep == "":
            raise StreamError("truncated: the object is not closed", r.offset())
        raise StreamError(f"expected ',' or '}}' after a member, found {sep!r}", r.offset())
    if r.skip_ws() != "":
        raise StreamError("data after the top-level object", r.offset())

