"""Where a workspace lives, what its files are called, and how they are written.

One place for paths, the lock, atomic replaces and whole-line appends, so every
command writes files the same crash-safe, never-world-writable way.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from ctoops.errors import StateUnavailable

FILE_MODE = 0o640
DIR_MODE = 0o750
CONFIG_RELPATH = Path("config") / "ctoops.yaml"


@dataclass(frozen=True)
class Workspace:
    """A workspace root and the files the runbook names inside it (R16, R26-R28)."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_RELPATH

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    @property
    def state_file(self) -> Path:
        return self.memory_dir / "orchestration-state.json"

    @property
    def lock_file(self) -> Path:
        return self.memory_dir / ".ctoops.lock"

    @property
    def audit_log(self) -> Path:
        return self.logs_dir / "cto-ops-audit.log"

    @property
    def restart_log(self) -> Path:
        return self.logs_dir / "gateway-safe-restart.log"

    @property
    def audit_md(self) -> Path:
        return self.docs_dir / "AGENT_AUDIT_LOG.md"

    @property
    def lessons_md(self) -> Path:
        return self.memory_dir / "lessons.md"

    @property
    def outbox_dir(self) -> Path:
        return self.memory_dir / "outbox"

    @property
    def incidents_dir(self) -> Path:
        return self.logs_dir / "incidents"

    def path(self, configured: str) -> Path:
        """A configured path: absolute as given (~ expanded), else under the root."""
        p = Path(configured).expanduser()
        return p if p.is_absolute() else self.root / p

    def ensure_dirs(self) -> None:
        for d in (self.logs_dir, self.memory_dir, self.docs_dir):
            try:
                make_dirs(d)
            except OSError as exc:
                raise StateUnavailable(f"cannot create {d}: {exc.strerror or exc}") from exc


def make_dirs(folder: Path, mode: int = DIR_MODE) -> list[Path]:
    """`mkdir -p` in which every folder it creates gets exactly `mode` (Path.mkdir
    with parents=True gives the missing parents 0o777 less the umask: world-writable
    under `umask 000`). Returns the folders it created, outermost first."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir(mode=mode)
        except FileExistsError:
            continue  # another run made it meanwhile (or it is a file: the caller's write says so)
        os.chmod(d, mode)  # not narrowed by the umask either
        created.append(d)
    return created


def default_state_home() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "ctoops"


def discover_root(explicit: str | None, cwd: Path | None = None) -> Workspace:
    """--root / CTOOPS_ROOT, else a folder with config/ctoops.yaml from cwd upwards,
    else $XDG_STATE_HOME/ctoops, created with the packaged default config."""
    if explicit:
        return Workspace(Path(explicit).expanduser().resolve())
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_RELPATH).is_file():
            return Workspace(folder)
    ws = Workspace(default_state_home())
    if not ws.config_file.exists():
        from ctoops.config import default_config_text

        try:
            make_dirs(ws.config_file.parent)
            atomic_write(ws.config_file, default_config_text().encode("utf-8"))
        except OSError as exc:
            raise StateUnavailable(f"cannot create the default workspace {ws.root}: {exc}") from exc
    return ws


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the directory entry itself is fsynced)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = FILE_MODE,
                 owner: tuple[int, int] | None = None) -> None:
    """Temp file in the same folder, fsync, os.replace, fsync the folder: a reader
    sees the old file or the new one, never a torn one, even after a crash. The
    mode is exact (not narrowed by the umask); `owner` (uid, gid) is set before the
    file takes the real name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def append_record(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Append one whole record with one write() on an O_APPEND descriptor, so
    concurrent appenders never interleave inside a line. A full disk can take
    part of a record: that part is cut back off, so the next record does not
    start in the middle of a line and take the torn one's fate."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        written = os.write(fd, data)
        if written != len(data):
            end = os.lseek(fd, 0, os.SEEK_CUR)  # just past our bytes (O_APPEND)
            if os.fstat(fd).st_size == end:  # nobody appended after them
                os.ftruncate(fd, end - written)
            raise OSError(errno.ENOSPC, f"No space left on device: {written} of {len(data)} "
                          f"bytes written to {path}, taken back")
        os.fsync(fd)
    finally:
        os.close(fd)


def workspace_lock(ws: Workspace, timeout_s: float = 30.0):  # -> filelock.BaseFileLock
    """The one workspace lock. Imported lazily: filelock costs ~40 ms of imports,
    which read-only paths such as `gate` never pay."""
    from filelock import FileLock

    make_dirs(ws.memory_dir)
    return FileLock(str(ws.lock_file), timeout=timeout_s, mode=FILE_MODE)
