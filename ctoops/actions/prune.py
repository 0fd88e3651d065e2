"""Prune dead cron runs from the gateway's legacy `sessions.json` stores (R13 step 2).

The file-era store belongs to a live gateway, so every write here is built to lose
nothing: the sidecar lock is taken (early-2026 releases honour it; later ones
ignore it), the file's identity (inode, size, mtime) is taken before reading and
checked again just before the atomic replace, and the whole prune is redone
(bounded) when the gateway wrote meanwhile. Kept entries are spliced from the
original bytes (never re-serialised), the result is parsed back before it goes in,
the previous file stays as `sessions.json.ctoops-bak-<epoch_ms>` (a hard link to
the very inode that was read; the last N are kept), and a store that does not
parse is left alone with the reason. After the restart, `check_stuck` re-reads the
stores and says whether the prune held. SQLite-era stores are never written here:
see `actions/maintenance.py`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.actions import sidecar_lock
from ctoops.config import RestartConfig
from ctoops.policy.prune import EntryFacts, RunContext, build_context, decide_dead_runs
from ctoops.probes.openclaw.keys import parse_key
from ctoops.probes.openclaw.run_facts import read_finished_runs, read_subagent_runs
from ctoops.probes.openclaw.store_spans import (
    FileIdentity,
    StoreScan,
    StoreUnreadable,
    read_store,
    scan_bytes,
)
from ctoops.subproc import pid_exists
from ctoops.workspace import fsync_dir

BACKUP_MARK = ".ctoops-bak-"
STORE_NAME = "sessions.json"


@dataclass
class StoreResult:
    path: str
    status: str  # pruned | nothing_to_prune | would_prune | skipped | failed
    reason: str = ""
    entries_before: int | None = None
    entries_after: int | None = None
    bytes_before: int | None = None
    bytes_after: int | None = None
    removed_by_reason: dict[str, int] = field(default_factory=dict)
    protected: int = 0
    attempts: int = 0
    lock: str = ""
    backup: str | None = None
    duration_s: float = 0.0
    removed_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "removed_keys"}
        out["removed"] = len(self.removed_keys)
        out["removed_sample"] = self.removed_keys[:5]
        return out


def find_stores(state_dir: Path) -> tuple[list[Path], list[str]]:
    """`agents/<id>/sessions/sessions.json` under the state root, never through a
    symlinked folder (that would lead out of the root); what was passed over is named."""
    stores: list[Path] = []
    notes: list[str] = []
    agents = state_dir / "agents"
    try:
        names = sorted(os.listdir(agents))
    except OSError:
        return [], []
    for name in names:
        agent_dir, sessions = agents / name, agents / name / "sessions"
        store = sessions / STORE_NAME
        try:
            if not stat.S_ISDIR(os.lstat(agent_dir).st_mode):
                continue
            if not stat.S_ISDIR(os.lstat(sessions).st_mode):
                continue
            mode = os.lstat(store).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            notes.append(f"{store} is not a regular file (a symlink?); not touched")
            continue
        stores.append(store)
    return stores, notes


def _facts(scan: StoreScan) -> list[EntryFacts]:
    return [EntryFacts(e.key, e.session_id, e.updated_at_ms, e.spawned_by, e.status)
            for e in scan.entries]


@dataclass(frozen=True)
class _World:
    """Everything around one store: the other stores' facts, run logs, registry."""

    other_facts: dict[Path, list[EntryFacts]]
    registry_running: frozenset[str]
    registry_edges: tuple[tuple[str, str], ...]
    subagents_known: bool
    state_dir: Path

    def context(self, store: Path, facts: list[EntryFacts]) -> RunContext:
        everything = [f for p, fs in self.other_facts.items() if p != store for f in fs] + facts
        jobs = {k.job_id for k in (parse_key(f.key) for f in facts)
                if k.kind == "cron_run" and k.job_id}
        finished = read_finished_runs(self.state_dir, jobs).by_job
        return build_context(everything, finished, self.registry_running, self.registry_edges,
                             self.subagents_known)


def _splice(data: bytes, scan: StoreScan, keep: list[int]) -> list[memoryview]:
    """The new file as pieces of the old one: head, kept entries with the original
    separator before each, tail."""
    mv = memoryview(data)
    entries = scan.entries
    pieces = [mv[:scan.head_end]]
    for j, i in enumerate(keep):
        if j > 0:
            pieces.append(mv[entries[i - 1].end:entries[i].start])
        pieces.append(mv[entries[i].start:entries[i].end])
    pieces.append(mv[scan.tail_start:])
    return pieces


def _write_file(path: Path, pieces: list[memoryview], like: os.stat_result) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 stat.S_IMODE(like.st_mode))
    try:
        if os.geteuid() == 0 and (like.st_uid, like.st_gid) != (0, 0):
            os.fchown(fd, like.st_uid, like.st_gid)
        with os.fdopen(os.dup(fd), "wb", buffering=1 << 20) as out:
            for piece in pieces:
                out.write(piece)
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup(store: Path, data: bytes, ident: FileIdentity, like: os.stat_result) -> Path:
    """A hard link to the inode that was read (free, byte-identical); when linking is
    not possible or the name now holds another inode, a copy of the bytes read."""
    backup = store.with_name(f"{store.name}{BACKUP_MARK}{int(time.time() * 1000)}")
    while backup.exists() or backup.is_symlink():
        backup = store.with_name(f"{backup.name}0")
    try:
        os.link(store, backup, follow_symlinks=False)
        if os.lstat(backup).st_ino == ident.ino:
            return backup
        backup.unlink()
    except OSError:
        pass
    _write_file(backup, [memoryview(data)], like)
    return backup


def rotate_backups(store: Path, keep: int) -> list[str]:
    """Keep the newest `keep` ctoops backups of this store; regular files only."""
    found: list[tuple[int, Path]] = []
    prefix = store.name + BACKUP_MARK
    for name in os.listdir(store.parent):
        suffix = name[len(prefix):] if name.startswith(prefix) else ""
        if not suffix.isdigit():
            continue
        path = store.parent / name
        if stat.S_ISREG(os.lstat(path).st_mode):
            found.append((int(suffix), path))
    found.sort()
    removed = []
    for _, path in found[:max(0, len(found) - keep)]:
        path.unlink()
        removed.append(path.name)
    return removed


Hook = Callable[[Path, int], None]
_TEMP_RE = re.compile(r"\.ctoops-(\d+)-[0-9a-f]{8}\.tmp")


def remove_dead_temps(store: Path) -> list[str]:
    """Delete the `<store>.ctoops-<pid>-<hex>.tmp` files of prune runs that died
    mid-write (their pid is gone): a crash must not leave a copy of a 100 MB
    store in the gateway's folder for good. Regular files of exactly that name
    only; a symlink is removed as a link, never followed."""
    notes: list[str] = []
    for name in os.listdir(store.parent):
        found = _TEMP_RE.fullmatch(name[len(store.name):]) if name.startswith(store.name) else None
        if found is None or pid_exists(int(found.group(1))) is not False:
            continue
        path = store.parent / name
        try:
            size = os.lstat(path).st_size
            path.unlink()
        except FileNotFoundError:
            continue
        notes.append(f"removed {name} ({size} bytes), left by a prune run that died (pid "
                     f"{found.group(1)})")
    return notes


def _replace(store: Path, data: bytes, scan: StoreScan, keep: list[int], ident: FileIdentity,
             cfg: RestartConfig, before_replace: Hook | None, attempt: int
             ) -> tuple[str | None, list[str]]:
    """Backup, write, parse back, re-check, replace. (backup name, notes), or
    (None, []) when the gateway changed the store meanwhile (nothing replaced; the
    caller redoes). Trouble after the replace (fsync, old backups) is a note: the
    new store is in place by then."""
    like = os.lstat(store)
    backup = _backup(store, data, ident, like)
    tmp = store.with_name(f"{store.name}.ctoops-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    replaced = False
    try:
        _write_file(tmp, _splice(data, scan, keep), like)
        check = scan_bytes(tmp.read_bytes())
        expected = [scan.entries[i].key for i in keep]
        if [e.key for e in check.entries] != expected:
            raise StoreUnreadable("the rewritten store did not read back as the kept entries")
        if before_replace is not None:
            before_replace(store, attempt)
        if FileIdentity.of(os.lstat(store)) != ident:
            backup.unlink(missing_ok=True)
            return None, []
        os.replace(tmp, store)
        replaced = True
    except BaseException:
        if not replaced:
            with contextlib.suppress(OSError):  # best effort: a spare backup harms nothing
                backup.unlink(missing_ok=True)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    notes: list[str] = []
    try:
        fsync_dir(store.parent)
    except OSError as exc:
        notes.append(f"fsync of {store.parent} failed: {exc.strerror or exc}")
    try:
        rotate_backups(store, cfg.backups_keep)
    except OSError as exc:
        notes.append(f"old backups were not rotated: {exc.strerror or exc}")
    return backup.name, notes


def prune_store(store: Path, world: _World, cfg: RestartConfig, now_ms: float,
                retention_ms: float, dry_run: bool, before_replace: Hook | None = None
                ) -> StoreResult:
    started = time.monotonic()
    result = StoreResult(str(store), "skipped")
    lock: sidecar_lock.SidecarLock | None = None
    try:
        if dry_run:
            holder = sidecar_lock.peek(store, cfg.sidecar_stale_s)
            result.lock = ("sidecar free" if holder is None else
                           f"sidecar held by pid {holder.pid} ({holder.why})")
        else:
            try:
                lock = sidecar_lock.acquire(store, cfg.sidecar_lock_wait_s, cfg.sidecar_stale_s)
            except OSError as exc:
                result.reason = f"cannot create {store.name}.lock: {exc.strerror or exc}; not pruned"
                return result
            if not lock.taken:
                h = lock.holder
                result.lock = "sidecar busy"
                result.reason = (f"{lock.path.name} is held by pid {h.pid if h else '?'} "
                                 f"({h.why if h else 'unknown'}); waited {lock.waited_s:.1f} s; "
                                 "not pruned this time")
                return result
            result.lock = "sidecar taken" + (f"; {lock.reclaimed}" if lock.reclaimed else "")
            result.notes.extend(remove_dead_temps(store))
        for attempt in range(1, cfg.prune_retries + 2):
            result.attempts = attempt
            try:
                data, scan, ident = read_store(store)
            except StoreUnreadable as exc:
                result.reason = f"the store does not parse ({exc}); left untouched"
                return result
            except OSError as exc:
                result.reason = f"cannot read the store: {exc.strerror or exc}; left untouched"
                return result
            facts = _facts(scan)
            verdict = decide_dead_runs(facts, world.context(store, facts), now_ms, retention_ms)
            keep = [i for i, e in enumerate(scan.entries) if e.key not in verdict.dead]
            result.entries_before, result.bytes_before = len(scan.entries), scan.size_bytes
            result.entries_after = len(keep)
            result.bytes_after = sum(len(p) for p in _splice(data, scan, keep))
            result.protected = len(verdict.protected)
            result.removed_keys = [e.key for e in scan.entries if e.key in verdict.dead]
            result.removed_by_reason = {}
            for reason in verdict.dead.values():
                result.removed_by_reason[reason] = result.removed_by_reason.get(reason, 0) + 1
            if not verdict.dead:
                result.status, result.reason = "nothing_to_prune", "no dead cron runs"
                return result
            if dry_run:
                result.status = "would_prune"
                result.reason = f"would remove {len(verdict.dead)} dead cron run(s)"
                return result
            backup, notes = _replace(store, data, scan, keep, ident, cfg, before_replace, attempt)
            del data
            result.notes.extend(notes)
            if backup is not None:
                result.status, result.backup = "pruned", backup
                result.reason = f"removed {len(verdict.dead)} dead cron run(s)"
                return result
        result.removed_keys = []
        result.entries_after, result.bytes_after = result.entries_before, result.bytes_before
        result.reason = (f"the gateway kept writing the store ({result.attempts} attempts); "
                         "left as the gateway wrote it")
        return result
    except (OSError, StoreUnreadable) as exc:
        result.status = "failed"
        result.reason = f"{type(exc).__name__}: {exc}; the store was not replaced"
        result.removed_keys = []
        return result
    finally:
        if lock is not None:
            problem = lock.release()
            if problem:
                result.notes.append(problem)
        result.duration_s = round(time.monotonic() - started, 3)


def prune_legacy(state_dir: Path, stores: list[Path], cfg: RestartConfig, now_ms: float,
                 retention_ms: float, dry_run: bool, before_replace: Hook | None = None
                 ) -> list[StoreResult]:
    """Prune every store. With several stores, a first read-only pass gathers every
    store's facts so a subagent in one store protects its parent run in another."""
    other: dict[Path, list[EntryFacts]] = {}
    if len(stores) > 1:
        for store in stores:
            # A store that cannot be read here is reported by its own prune below.
            with contextlib.suppress(OSError, StoreUnreadable):
                other[store] = _facts(read_store(store)[1])
    registry = read_subagent_runs(state_dir)
    world = _World(other, registry.running_child_keys, registry.edges, registry.known, state_dir)
    return [prune_store(s, world, cfg, now_ms, retention_ms, dry_run, before_replace)
            for s in stores]


def check_stuck(results: list[StoreResult]) -> dict[str, Any]:
    """After the restart: did the removed entries stay removed?"""
    pruned = [r for r in results if r.status == "pruned"]
    reappeared: dict[str, int] = {}
    problems: list[str] = []
    for r in pruned:
        try:
            _, scan, _ = read_store(Path(r.path))
        except (OSError, StoreUnreadable) as exc:
            problems.append(f"{r.path}: {exc}")
            continue
        keys = {e.key for e in scan.entries}
        back = sum(1 for k in r.removed_keys if k in keys)
        if back:
            reappeared[r.path] = back
    return {"checked": len(pruned), "stuck": not reappeared and not problems,
            "reappeared": reappeared, "problems": problems}
