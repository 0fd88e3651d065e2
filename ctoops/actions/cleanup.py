"""Remove the gateway's `.deleted` and `.corrupt` leftovers (R13 step 3).

Exactly two kinds of name, as the gateway writes them:
- archived transcripts of deleted sessions:
  `<name>.deleted.<YYYY-MM-DDTHH-MM-SS[.mmm]Z>[.<32 hex>][.zst]`;
- quarantined corrupt files: `<name>.corrupt-<epoch ms>[.N]`.
Not `.reset`/`.bak` archives, not ctoops's own `.ctoops-bak-` backups, not the
live store or databases, never anything in a `cold/` folder (authoritative
history), never anything outside `gateway.state_dir`.

Why `os.fwalk` and not a path walk: it walks by directory file descriptors and
never descends through a symlink, and each removal is `unlink(name, dir_fd=...)`,
so swapping a folder for a symlink mid-walk cannot redirect a removal outside the
root. A symlink with a matching name is removed as a link (its target is never
touched); a directory with a matching name is left alone. An empty, missing or
`/` root means do nothing, never "everything".
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DELETED_RE = re.compile(
    r"^.+\.deleted\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d{3})?Z(?:\.[0-9a-f]{32})?(?:\.zst)?$")
CORRUPT_RE = re.compile(r"^.+\.corrupt-\d{10,16}(?:\.\d{1,3})?$")
NEVER_DIRS = frozenset({"cold"})
LIST_LIMIT = 50


@dataclass
class CleanupResult:
    status: str  # done | nothing | would_remove | skipped | failed
    reason: str = ""
    removed: int = 0
    bytes_freed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)  # the first LIST_LIMIT
    passed_over: list[str] = field(default_factory=list)  # matching names left alone
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def leftover_kind(name: str) -> str | None:
    """'deleted', 'corrupt' or None for a file name."""
    if ".ctoops-bak-" in name or name == "sessions.json":
        return None
    if DELETED_RE.match(name):
        return "deleted"
    if CORRUPT_RE.match(name):
        return "corrupt"
    return None


def _usable_root(state_dir: str) -> tuple[Path | None, str]:
    if not state_dir or not state_dir.strip():
        return None, "gateway.state_dir is empty: nothing to clean"
    root = Path(state_dir).expanduser()
    try:
        real = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None, f"{root} does not exist: nothing to clean"
    if real == Path(real.anchor) or not real.is_dir():
        return None, f"{root} resolves to {real}, not a state folder: refusing to clean"
    return real, ""


def remove_leftovers(state_dir: str, dry_run: bool, exclude: Path | None = None
                     ) -> CleanupResult:
    """Remove (or with dry_run, list) the leftovers under the state root. `exclude`
    is a folder never entered (the ctoops workspace, should it live under the root)."""
    root, why = _usable_root(state_dir)
    if root is None:
        return CleanupResult("skipped", why)
    excluded = None
    if exclude is not None:
        try:
            st = os.stat(exclude)
            excluded = (st.st_dev, st.st_ino)
        except OSError:
            pass
    out = CleanupResult("nothing")

    def on_error(exc: OSError) -> None:
        out.errors.append(f"{exc.filename}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, onerror=on_error,
                                                       follow_symlinks=False):
        keep_dirs = []
        for name in dirnames:
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError as exc:
                out.errors.append(f"{dirpath}/{name}: {exc.strerror or exc}")
                continue
            if stat.S_ISLNK(st.st_mode):
                _consider(out, dirpath, name, dirfd, st, dry_run)  # a link to a folder
                continue
            if name in NEVER_DIRS or (st.st_dev, st.st_ino) == excluded:
                continue
            if leftover_kind(name):
                out.passed_over.append(f"{dirpath}/{name} (a directory)")
            keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in filenames:
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError as exc:
                out.errors.append(f"{dirpath}/{name}: {exc.strerror or exc}")
                continue
            _consider(out, dirpath, name, dirfd, st, dry_run)
    if out.removed:
        out.status = "would_remove" if dry_run else "done"
    verb = "would remove" if dry_run else "removed"
    out.reason = f"{verb} {out.removed} leftover(s), {out.bytes_freed} bytes" + (
        f"; {len(out.errors)} could not be read or removed" if out.errors else "")
    return out


def _consider(out: CleanupResult, dirpath: str, name: str, dirfd: int, st: os.stat_result,
              dry_run: bool) -> None:
    kind = leftover_kind(name)
    if kind is None:
        return
    is_link = stat.S_ISLNK(st.st_mode)
    if not is_link and not stat.S_ISREG(st.st_mode):
        out.passed_over.append(f"{dirpath}/{name} (not a regular file)")
        return
    size = 0 if is_link else st.st_size
    if not dry_run:
        try:
            os.unlink(name, dir_fd=dirfd)  # never follows: a link goes, its target stays
        except OSError as exc:
            out.errors.append(f"{dirpath}/{name}: {exc.strerror or exc}")
            return
    out.removed += 1
    out.bytes_freed += size
    out.by_kind[kind] = out.by_kind.get(kind, 0) + 1
    if len(out.paths) < LIST_LIMIT:
        out.paths.append(f"{dirpath}/{name}" + (" (symlink)" if is_link else ""))
