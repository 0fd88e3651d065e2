"""Read only the new, complete lines of an append-only file (or a rotating family
of them) from a cursor, at most a byte budget per run.

Why a cursor and not "the last N lines": a timer that runs every minute must not
re-read what it already counted, and must not read a 1 GB folder in full. The
cursor is (file name, inode, offset, a hash of the file's first bytes): the inode
tells a rotated file (renamed away, a new one in its place) from the same file;
the head hash tells a file rewritten under a reused inode number or truncated and
refilled past the old offset. A last line without its newline is torn (the writer
is mid-write): it is left for the next run. When more is unread than the budget,
the oldest bytes are skipped, not the newest: a storm is about the last minutes,
and the run must see them now, not after catching up for an hour.

This module only reads; it never decides and never writes.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HEAD_BYTES = 128
CHUNK = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    """A regular file as seen by stat at planning time."""

    path: Path
    inode: int
    size: int


@dataclass(frozen=True)
class Cursor:
    """Where the next run starts reading."""

    file: str  # the file's name inside its folder
    inode: int
    offset: int
    head_len: int = 0  # how many leading bytes head_sha covers
    head_sha: str = ""
    skip_partial: bool = False  # offset is mid-line: drop up to the next newline

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Cursor | None:
        """A cursor from the state, or None when it is missing or malformed (the
        caller then starts afresh, which is safe: at worst a window is re-read)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(str(data["file"]), int(data["inode"]), max(0, int(data["offset"])),
                       int(data.get("head_len", 0)), str(data.get("head_sha", "")),
                       bool(data.get("skip_partial", False)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Segment:
    """A byte range of one file to read in this run."""

    file: FileInfo
    start: int
    end: int
    skip_partial: bool = False


@dataclass(frozen=True)
class TailRead:
    """What one run read: whole lines, where to start next time, and the cost."""

    lines: tuple[bytes, ...]
    cursor: Cursor | None
    bytes_read: int
    skipped_bytes: int
    notes: tuple[str, ...]
    files: tuple[str, ...]


def stat_regular(path: Path) -> FileInfo | None:
    """The file's inode and size, or None when it is absent or not a regular file
    (a symlink or a FIFO is never opened: opening a FIFO would block the run)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return FileInfo(path, st.st_ino, st.st_size)


def _head(fd: int, length: int) -> tuple[int, str]:
    data = os.pread(fd, length, 0)
    return len(data), hashlib.sha256(data).hexdigest()[:32]


def _same_file(info: FileInfo, cursor: Cursor) -> bool:
    """Same inode and the same first bytes as when the cursor was written."""
    if info.inode != cursor.inode:
        return False
    if cursor.head_len <= 0:
        return True
    if info.size < cursor.head_len:
        return False  # shorter than its recorded head: truncated (and maybe refilled)
    try:
        fd = os.open(info.path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return _head(fd, cursor.head_len)[1] == cursor.head_sha
    finally:
        os.close(fd)


def plan(files: list[FileInfo], cursor: Cursor | None, max_bytes: int,
         order_key: Callable[[str], Any] | None = None) -> tuple[list[Segment], int, list[str]]:
    """Which byte ranges to read, oldest first, within `max_bytes`.

    `files` is the family oldest first (one file for a single-file source). Without
    a cursor the run starts at the newest file's last `max_bytes`. With one, it
    resumes where the cursor's file now is (found by name, else by inode among the
    family: a size rotation renames it), then reads every newer file from its start.
    When the cursor's file is gone, `order_key(name)` (comparable; None when the
    name does not parse) picks the files at or after it. Returns (segments, skipped
    bytes, notes)."""
    notes: list[str] = []
    if not files:
        return [], 0, notes
    if cursor is None:
        # First run: only the newest file matters (older ones hold older errors).
        return _fit([Segment(files[-1], 0, files[-1].size)], max_bytes, notes)
    index = next((i for i, f in enumerate(files)
                  if f.path.name == cursor.file and _same_file(f, cursor)), None)
    if index is None:
        index = next((i for i, f in enumerate(files)
                      if f.path.name != cursor.file and _same_file(f, cursor)), None)
        if index is not None:
            notes.append(f"{cursor.file} was rotated to {files[index].path.name}; "
                         "reading its rest, then the newer files")
    if index is not None:
        found = files[index]
        start, skip = cursor.offset, cursor.skip_partial
        if found.size < start:
            notes.append(f"{found.path.name} was truncated ({found.size} < {start} bytes): "
                         "reading it from the start")
            start, skip = 0, False
        segments = [Segment(found, start, found.size, skip)]
        segments += [Segment(f, 0, f.size) for f in files[index + 1:]]
        return _fit(segments, max_bytes, notes)
    named = next((f for f in files if f.path.name == cursor.file), None)
    if named is not None:
        how = "truncated or rewritten" if named.inode == cursor.inode else "replaced (new inode)"
        notes.append(f"{cursor.file} was {how}: reading it from the start; what the old "
                     "content held past the cursor is lost")
    else:
        notes.append(f"{cursor.file} is gone (rotated away or pruned) before it was read to "
                     "the end: resuming with the files that replaced it")
    newer = files
    if order_key is not None:
        mark = order_key(cursor.file)
        if mark is not None:
            newer = [f for f in files if (order_key(f.path.name) or mark) >= mark] or files
    return _fit([Segment(f, 0, f.size) for f in newer], max_bytes, notes)


def _fit(segments: list[Segment], max_bytes: int, notes: list[str]
         ) -> tuple[list[Segment], int, list[str]]:
    """Keep the newest `max_bytes`: older bytes are skipped and counted."""
    total = sum(s.end - s.start for s in segments)
    if total <= max_bytes:
        return [s for s in segments if s.end > s.start or s is segments[-1]], 0, notes
    left = max_bytes
    kept: list[Segment] = []
    for seg in reversed(segments):
        size = seg.end - seg.start
        if left <= 0:
            break
        if size <= left:
            kept.append(seg)
            left -= size
            continue
        # Start one byte early and drop through the first newline: if that byte is
        # the newline ending the previous line, nothing of the first line is lost.
        start = seg.end - left - 1
        kept.append(Segment(seg.file, max(seg.start, start), seg.end, True))
        left = 0
    kept.reverse()
    skipped = total - sum(s.end - s.start for s in kept)
    notes.append(f"{total} unread bytes exceed max_bytes_per_run ({max_bytes}): skipped the "
                 f"oldest {max(0, skipped)} bytes (errors older than the window cannot make a "
                 "storm now)")
    return kept, max(0, skipped), notes


def read(segments: Iterable[Segment]) -> TailRead:
    """Read the planned ranges into whole lines and the cursor after them.

    The last segment is the live file: a last line without a newline there is torn
    and left for the next run. In an older (finished) file such a line is complete
    as it will ever be, so it is returned (and likely fails to parse: counted)."""
    segs = list(segments)
    lines: list[bytes] = []
    notes: list[str] = []
    files: list[str] = []
    cursor: Cursor | None = None
    bytes_read = 0
    for i, seg in enumerate(segs):
        live = i == len(segs) - 1
        try:
            fd = os.open(seg.file.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            notes.append(f"cannot open {seg.file.path}: {exc.strerror or exc}; next run retries")
            break
        try:
            st = os.fstat(fd)
            if st.st_ino != seg.file.inode or not stat.S_ISREG(st.st_mode):
                notes.append(f"{seg.file.path.name} changed while being read; next run continues")
                break
            data = _pread_range(fd, seg.start, seg.end)
            head_len, head_sha = _head(fd, HEAD_BYTES)
        finally:
            os.close(fd)
        bytes_read += len(data)
        files.append(seg.file.path.name)
        pos = seg.start
        skip = seg.skip_partial
        if skip:
            newline = data.find(b"\n")
            if newline < 0:
                pos += len(data)
                cursor = Cursor(seg.file.path.name, seg.file.inode, pos, head_len, head_sha, True)
                continue
            data = data[newline + 1:]
            pos += newline + 1
            skip = False
        parts = data.split(b"\n")
        torn = parts.pop()
        lines.extend(p for p in parts if p.strip())
        pos += len(data) - len(torn)
        if torn and not live:
            if torn.strip():
                lines.append(torn)
            pos += len(torn)
        cursor = Cursor(seg.file.path.name, seg.file.inode, pos, head_len, head_sha, skip)
    return TailRead(tuple(lines), cursor, bytes_read, 0, tuple(notes), tuple(files))


def _pread_range(fd: int, start: int, end: int) -> bytes:
    """Bytes [start, end) (fewer if the file shrank meanwhile)."""
    chunks: list[bytes] = []
    pos = start
    while pos < end:
        chunk = os.pread(fd, min(CHUNK, end - pos), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def tail(files: list[FileInfo], cursor: Cursor | None, max_bytes: int,
         order_key: Callable[[str], Any] | None = None) -> TailRead:
    """plan() then read(): one call for a source."""
    segments, skipped, notes = plan(files, cursor, max_bytes, order_key)
    if not segments:
        return TailRead((), cursor, 0, 0, tuple(notes), ())
    got = read(segments)
    return TailRead(got.lines, got.cursor or cursor, got.bytes_read, skipped,
                    tuple(notes) + got.notes, got.files)
