"""A child memory cgroup for a test gateway to run in, where the machine lets us.

check resources and safe-restart read the gateway's cgroup: its usage against
its high watermark (v2 `memory.high`; v1 the soft limit). Where the machine
allows it (root with a writable cgroup v1 memory controller, as on the CI
machine, or a cgroup v2 hierarchy whose root delegates the memory controller),
a test makes a child cgroup with a unique name (`ctoops-it-<pid>-<random>`),
runs the gateway in it and removes it afterwards; elsewhere the caller skips
with the reason returned here.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

V1_MEMORY = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")
PREFIX = "ctoops-it-"


@dataclass(frozen=True)
class MemoryCgroup:
    path: Path
    version: int  # 1 or 2

    @property
    def usage_file(self) -> str:
        return "memory.usage_in_bytes" if self.version == 1 else "memory.current"

    @property
    def watermark_file(self) -> str:
        return "memory.soft_limit_in_bytes" if self.version == 1 else "memory.high"

    def usage_bytes(self) -> int:
        return int((self.path / self.usage_file).read_text())

    def set_watermark(self, value: int | None) -> int | None:
        """Set the high watermark (None: no limit); returns it as the kernel keeps
        it (rounded down to whole pages)."""
        unlimited = "-1" if self.version == 1 else "max"
        path = self.path / self.watermark_file
        path.write_text(unlimited if value is None else str(value))
        return None if value is None else int(path.read_text())

    def pids(self) -> list[str]:
        return (self.path / "cgroup.procs").read_text().split()


def _parent() -> tuple[Path, int] | str:
    """Where to make the child (folder, version), or why nowhere."""
    if (V1_MEMORY / "memory.usage_in_bytes").exists():
        if not os.access(V1_MEMORY, os.W_OK):
            return f"{V1_MEMORY} is not writable here (not root, or a read-only cgroup mount)"
        return V1_MEMORY, 1
    controllers = V2_ROOT / "cgroup.subtree_control"
    if controllers.exists():
        if "memory" not in controllers.read_text().split():
            return f"the cgroup v2 root {V2_ROOT} does not delegate the memory controller"
        if not os.access(V2_ROOT, os.W_OK):
            return f"{V2_ROOT} is not writable here (not root, or a read-only cgroup mount)"
        return V2_ROOT, 2
    return f"no cgroup memory controller at {V1_MEMORY} or {V2_ROOT}"


@contextmanager
def memory_cgroup() -> Iterator[tuple[MemoryCgroup | None, str]]:
    """(a fresh child memory cgroup, "") removed on exit once empty; (None, reason)
    where none can be made."""
    where = _parent()
    if isinstance(where, str):
        yield None, where
        return
    parent, version = where
    path = parent / f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
    except OSError as exc:
        yield None, f"cannot create a child memory cgroup in {parent}: {exc.strerror or exc}"
        return
    try:
        cgroup = MemoryCgroup(path, version)
        if not (path / cgroup.usage_file).exists():
            yield None, f"{path} has no {cgroup.usage_file}: no memory accounting there"
        else:
            yield cgroup, ""
    finally:
        remove(path)


def remove(path: Path, timeout_s: float = 10.0) -> None:
    """rmdir once no task is left in it (exited gateways leave it as they go)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                left = (path / "cgroup.procs").read_text().split()
                raise RuntimeError(f"cannot remove {path}: tasks still in it: {left}") from None
            time.sleep(0.1)
