"""Take the gateway's `sessions.json.lock` sidecar the way its own writers do.

Early-2026 gateway releases guarded store writes with a sidecar file created
with O_CREAT|O_EXCL holding `{"pid": ..., "createdAt": "<ISO time>"}` (written as
2-space JSON plus a newline), and treated a holder as stale after about 30 s, or
when its pid is gone. Later file-era releases ignore the file, so taking it is
harmless there and protective where it counts. A stale holder is removed only if
the file is still the one that was judged stale (same inode and bytes), so two
reclaimers cannot remove each other's fresh lock.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ctoops.subproc import pid_exists

POLL_S = 0.05


@dataclass(frozen=True)
class SidecarHolder:
    pid: int | None
    created_at: str | None
    age_s: float | None
    pid_alive: bool
    stale: bool
    why: str


@dataclass
class SidecarLock:
    path: Path
    taken: bool
    waited_s: float
    reclaimed: str = ""  # why a stale holder was removed
    holder: SidecarHolder | None = None  # who held it when we gave up
    _snapshot: tuple[int, bytes] | None = None

    def release(self) -> str:
        """Remove the sidecar only if it is still ours. Never raises: a lock that
        cannot be removed goes stale on its own (the gateway's rule); the problem is
        returned for the record."""
        if not self.taken or self._snapshot is None:
            return ""
        self.taken = False
        try:
            st = os.lstat(self.path)
            if st.st_ino == self._snapshot[0] and self.path.read_bytes() == self._snapshot[1]:
                self.path.unlink()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            return f"could not remove {self.path.name}: {exc.strerror or exc}"
        return ""


def _parse_payload(raw: bytes) -> tuple[int | None, str | None]:
    """(pid, createdAt) from the sidecar's JSON; (None, None) when it is not JSON."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    pid = payload.get("pid")
    created = payload.get("createdAt")
    return (pid if isinstance(pid, int) and pid > 0 else None,
            created if isinstance(created, str) else None)


def _parse_time(created: str | None, fallback: float) -> float:
    if not created:
        return fallback
    try:
        return datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback  # an unparsable createdAt: the file time decides, as in the gateway


def judge_holder(raw: bytes, mtime: float, now: float, stale_s: float) -> SidecarHolder:
    """The gateway's staleness rule: createdAt (else the file time) older than
    stale_s, or an owner pid that no longer exists."""
    pid, created = _parse_payload(raw)
    age = max(0.0, now - _parse_time(created, mtime))
    alive = pid_exists(pid) is not False if pid is not None else False
    if age > stale_s:
        return SidecarHolder(pid, created, age, alive, True, f"older than {stale_s:g} s")
    if pid is not None and not alive:
        return SidecarHolder(pid, created, age, alive, True, f"owner pid {pid} is gone")
    return SidecarHolder(pid, created, age, alive, False,
                         f"held for {age:.1f} s" + (f" by live pid {pid}" if pid else ""))


def _payload() -> bytes:
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return (json.dumps({"pid": os.getpid(), "createdAt": created}, indent=2) + "\n").encode()


def _try_create(path: Path, mode: int) -> tuple[int, bytes] | None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return None
    try:
        data = _payload()
        os.write(fd, data)
        os.fsync(fd)
        return os.fstat(fd).st_ino, data
    finally:
        os.close(fd)


def _remove_if_unchanged(path: Path, ino: int, raw: bytes) -> bool:
    try:
        if os.lstat(path).st_ino == ino and path.read_bytes() == raw:
            path.unlink()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _look(path: Path, now: float, stale_s: float) -> tuple[int, bytes, SidecarHolder] | None:
    st = os.lstat(path)
    if os.path.islink(path):
        return st.st_ino, b"", SidecarHolder(None, None, None, False, False,
                                             "a symlink, not a lock file: left alone")
    raw = path.read_bytes()
    return st.st_ino, raw, judge_holder(raw, st.st_mtime, now, stale_s)


def acquire(store: Path, wait_s: float, stale_s: float, mode: int = 0o600) -> SidecarLock:
    """Take `<store>.lock`, waiting up to wait_s for a live holder; reclaim a stale one."""
    path = store.with_name(store.name + ".lock")
    start = time.monotonic()
    reclaimed = ""
    reclaims = 0
    while True:
        snapshot = _try_create(path, mode)
        if snapshot is not None:
            return SidecarLock(path, True, time.monotonic() - start, reclaimed, None, snapshot)
        try:
            ino, raw, holder = _look(path, time.time(), stale_s)
        except FileNotFoundError:
            continue  # released between our create and our look: try again at once
        if holder.stale and reclaims < 3:
            reclaims += 1
            if _remove_if_unchanged(path, ino, raw):
                reclaimed = f"removed a stale {path.name} (pid {holder.pid}, {holder.why})"
                continue
        waited = time.monotonic() - start
        if waited >= wait_s:
            return SidecarLock(path, False, waited, reclaimed, holder)
        time.sleep(min(POLL_S, max(0.0, wait_s - waited)))


def peek(store: Path, stale_s: float) -> SidecarHolder | None:
    """Who holds the sidecar now (for --dry-run), without taking it."""
    try:
        return _look(store.with_name(store.name + ".lock"), time.time(), stale_s)[2]
    except FileNotFoundError:
        return None
