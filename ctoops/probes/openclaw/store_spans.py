"""Read a legacy `sessions.json` as byte spans: where each entry starts and ends.

Why spans and not `json.load`: the prune must hand the gateway back every kept
entry byte for byte, in the same order, with the same separators (R13 step 2).
Re-serialising would change number formats, escapes and spacing the gateway
wrote; splicing the original bytes cannot. It also keeps memory near one copy of
the file: each entry is decoded on its own (through a growing window, with the C
JSON scanner) and dropped once its few facts are taken, where `json.load` of a
100 MB store would build the whole object graph.

Read-only, like every probe. The grammar is exactly the one the gateway's reader
accepts (JSON.parse of an object): a file it would read as empty (not an object,
NaN, a BOM, trailing bytes, a duplicate key, bad UTF-8) raises `StoreUnreadable`,
so the caller can refuse to touch it.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WS = re.compile(rb"[ \t\n\r]*")
# A JSON string token: no raw control characters, escapes taken two bytes at a time.
_STRING = re.compile(rb'"(?:[^"\\\x00-\x1f]|\\.)*"', re.DOTALL)
_WINDOW_START = 32 * 1024  # the first entry; later ones start from the size of the last
_WINDOW_MIN = 8 * 1024


class StoreUnreadable(ValueError):
    """The bytes are not a store the gateway would read back as written."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (the gateway's parser rejects it)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True)
class FileIdentity:
    """What must not change between reading a store and replacing it."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class EntrySpan:
    """One top-level member: `"key": value` is data[start:end]; its few facts."""

    key: str
    start: int  # offset of the key's opening quote
    end: int  # offset just past the value
    session_id: str | None
    updated_at_ms: float | None
    spawned_by: str | None
    status: str | None


@dataclass(frozen=True)
class StoreScan:
    head_end: int  # data[:head_end] is "{" and the whitespace before the first key
    tail_start: int  # data[tail_start:] is the whitespace, "}" and what follows
    entries: tuple[EntrySpan, ...]
    size_bytes: int


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _facts(key: str, start: int, end: int, value: Any) -> EntrySpan:
    if not isinstance(value, dict):
        return EntrySpan(key, start, end, None, None, None, None)
    updated = value.get("updatedAt")
    updated_ms = None  # missing or null: the gateway's reaper reads it as 0
    if isinstance(updated, (int, float)) and not isinstance(updated, bool):
        try:
            updated_ms = float(updated)
        except OverflowError:  # a 400-digit number: JavaScript reads it as +-Infinity
            updated_ms = math.inf if updated > 0 else -math.inf
    elif updated is not None:  # text, a list...: its age is unknown, never judged expired
        updated_ms = math.inf
    return EntrySpan(key, start, end, _str_or_none(value.get("sessionId")), updated_ms,
                     _str_or_none(value.get("spawnedBy")), _str_or_none(value.get("status")))


def _decode_value(data: bytes, pos: int, hint: int) -> tuple[Any, int]:
    """Decode the JSON value at byte `pos`; (value, byte offset just past it).

    A window of the bytes is decoded and parsed; a value longer than the window
    fails to parse and the window grows, until it reaches the end of the data
    (then the error is real)."""
    size = len(data)
    window = max(_WINDOW_MIN, hint) if hint else _WINDOW_START
    while True:
        stop = min(size, pos + window)
        final = stop == size
        try:
            text = codecs.getincrementaldecoder("utf-8")("strict").decode(
                data[pos:stop], final=final)
        except UnicodeDecodeError as exc:
            raise StoreUnreadable(f"not UTF-8 at byte {pos + exc.start}") from exc
        try:
            value, end_char = _DECODER.raw_decode(text)
        except RecursionError as exc:
            raise StoreUnreadable(f"entry at byte {pos} is nested too deeply to check") from exc
        except ValueError as exc:
            if final:
                raise StoreUnreadable(f"entry at byte {pos} is not valid JSON: {exc}") from exc
            window *= 4
            continue
        if not final and end_char >= len(text):
            window *= 4  # a number cut by the window edge parses as a shorter number
            continue
        return value, pos + len(text[:end_char].encode("utf-8"))


def _skip_ws(data: bytes, pos: int) -> int:
    match = _WS.match(data, pos)
    return match.end() if match else pos


def scan_bytes(data: bytes) -> StoreScan:
    """Spans and facts of every entry, or StoreUnreadable naming the first problem."""
    size = len(data)
    pos = _skip_ws(data, 0)
    if pos >= size or data[pos:pos + 1] != b"{":
        raise StoreUnreadable("the top level is not a JSON object")
    pos = _skip_ws(data, pos + 1)
    head_end = pos
    entries: list[EntrySpan] = []
    seen: set[str] = set()
    hint = 0
    if data[pos:pos + 1] == b"}":
        tail_start = pos
    else:
        while True:
            match = _STRING.match(data, pos)
            if match is None:
                raise StoreUnreadable(f"expected a key string at byte {pos}")
            try:
                key = json.loads(match.group())
            except ValueError as exc:
                raise StoreUnreadable(f"bad key at byte {pos}: {exc}") from exc
            if key in seen:
                raise StoreUnreadable(f"duplicate key {key!r}: ambiguous, refusing")
            seen.add(key)
            start = pos
            pos = _skip_ws(data, match.end())
            if data[pos:pos + 1] != b":":
                raise StoreUnreadable(f"expected ':' at byte {pos}")
            value_pos = _skip_ws(data, pos + 1)
            value, end = _decode_value(data, value_pos, hint)
            hint = (end - value_pos) * 11 // 10 + _WINDOW_MIN  # neighbours are alike
            entries.append(_facts(key, start, end, value))
            pos = _skip_ws(data, end)
            nxt = data[pos:pos + 1]
            if nxt == b",":
                pos = _skip_ws(data, pos + 1)
                continue
            if nxt == b"}":
                tail_start = end
                break
            raise StoreUnreadable(f"expected ',' or '}}' at byte {pos}")
    close = _skip_ws(data, tail_start)
    if data[close:close + 1] != b"}" or _skip_ws(data, close + 1) != size:
        raise StoreUnreadable(f"unexpected bytes after the object at byte {close + 1}")
    return StoreScan(head_end, tail_start, tuple(entries), size)


def read_store(path: Path) -> tuple[bytes, StoreScan, FileIdentity]:
    """Read and scan one store; the identity is of the very bytes read (fstat of the
    open file before and after the read must agree, else the read is retried once)."""
    for _ in range(2):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            before = FileIdentity.of(os.fstat(fd))
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read()
            after = FileIdentity.of(os.fstat(fd))
        finally:
            os.close(fd)
        if before == after and len(data) == before.size:
            return data, scan_bytes(data), before
    raise StoreUnreadable(f"{path} changed while it was read twice in a row; try later")


def separator_before(scan: StoreScan, index: int, data: bytes) -> bytes:
    """The original bytes between entry index-1 and entry index (", \\n  " as written)."""
    return data[scan.entries[index - 1].end:scan.entries[index].start]
