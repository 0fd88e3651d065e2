"""Pruning real, generated legacy stores (R13 step 2): exactly the dead runs go,
every other byte stays, and a live gateway's writes are never lost."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.storegen import generate
from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.actions.prune import BACKUP_MARK
from ctoops.config import Config, load_config
from tests.restart.helpers import tree_hashes

WRITER = r"""
import json, os, sys
path, key = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
# The gateway's way: a whole new file through a temp file and a rename.
new = data[:-2] + b',\n  ' + json.dumps(key).encode() + b': {"sessionId": "w", "updatedAt": 1}\n}'
tmp = path + ".123.0f0e0d0c-0000-4000-8000-000000000000.tmp"
open(tmp, "wb").write(new)
os.replace(tmp, path)
"""


def config(**restart: object) -> Config:
    cfg = load_config(None)
    return dataclasses.replace(cfg, restart=dataclasses.replace(cfg.restart, **restart))


def leftovers_of_ours(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")
                  or p.name.endswith(".lock"))


@pytest.fixture(scope="module")
def big_state(tmp_path_factory: pytest.TempPathFactory):
    """Thousands of entries, tens of KB each, two agents (one in the gateway's own
    format, one compact), many runs per job, subagents with and without running
    children, a run held by a running subagent in the other agent's store."""
    root = tmp_path_factory.mktemp("big") / "state"
    gen = generate(root, agents=("main", "ops"), jobs=12, runs_per_job=60,
                   styles=("gateway", "compact"))
    originals = {a: s.path.read_bytes() for a, s in gen.stores.items()}
    for s in gen.stores.values():
        os.chmod(s.path, 0o600)
    started = time.monotonic()
    step = prune_dead_runs(config(), str(root), gen.now_ms, dry_run=False)
    return gen, originals, step, time.monotonic() - started


def test_r13_prune_removes_exactly_the_dead_runs(big_state) -> None:
    gen, _, step, _ = big_state
    assert sum(len(s.keys) for s in gen.stores.values()) > 1500
    assert step.status == "done", step.summary
    by_path = {r.path: r for r in step.stores}
    for store in gen.stores.values():
        result = by_path[str(store.path)]
        assert set(result.removed_keys) == store.dead
        assert result.status == "pruned" and result.attempts == 1
        assert result.protected > 0  # the subagent jobs and the cross-agent run


def test_r13_prune_keeps_every_other_byte_and_the_key_order(big_state) -> None:
    gen, originals, _, _ = big_state
    for agent, store in gen.stores.items():
        after = store.path.read_bytes()
        assert after == store.expected_after_prune()
        kept = [k for k in store.keys if k not in store.dead]
        parsed = json.loads(after)
        assert list(parsed) == kept
        original = json.loads(originals[agent])
        members = store.member_bytes()
        for key in kept:  # the raw bytes of each kept entry, and its value
            assert members[key] in after
            assert parsed[key] == original[key]


def test_r13_prune_leaves_a_backup_the_store_mode_and_no_debris(big_state) -> None:
    gen, originals, step, _ = big_state
    for agent, store in gen.stores.items():
        backups = [p for p in store.path.parent.iterdir() if BACKUP_MARK in p.name]
        assert len(backups) == 1
        assert backups[0].read_bytes() == originals[agent]
        assert (store.path.stat().st_mode & 0o777) == 0o600
        assert leftovers_of_ours(store.path.parent) == []
    summary = step.as_dict()
    assert summary["bytes_after"] < summary["bytes_before"]
    assert summary["entries_before"] - summary["entries_after"] == gen.dead_total


def small_state(tmp_path: Path):
    return generate(tmp_path / "state", agents=("main",), jobs=4, runs_per_job=12,
                    groups=3, blob_min=500, blob_max=2000)


@pytest.mark.parametrize("damage", ["truncated", "empty", "array", "bad_utf8", "garbage_after"])
def test_r13_corrupt_store_is_left_untouched(tmp_path: Path, damage: str) -> None:
    gen = small_state(tmp_path)
    store = gen.stores["main"].path
    raw = store.read_bytes()
    broken = {"truncated": raw[:-500],  # a crash mid-write
              "empty": b"",
              "array": b"[" + raw + b"]",
              "bad_utf8": raw[:200] + b"\xff\xfe" + raw[202:],
              "garbage_after": raw + b"\x00"}[damage]
    store.write_bytes(broken)
    before = tree_hashes(gen.state_dir)
    step = prune_dead_runs(config(), str(gen.state_dir), gen.now_ms, dry_run=False)
    assert step.status == "skipped"
    assert "does not parse" in step.stores[0].reason and "left untouched" in step.stores[0].reason
    assert store.read_bytes() == broken
    assert tree_hashes(gen.state_dir) == before  # no backup, no lock, no temp file


def test_r13_sidecar_lock_held_by_a_live_process_waits_then_skips(tmp_path: Path) -> None:
    gen = small_state(tmp_path)
    store = gen.stores["main"].path
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = store.with_name("sessions.json.lock")
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lock.write_text(json.dumps({"pid": holder.pid, "createdAt": created}, indent=2) + "\n")
        original, lock_bytes = store.read_bytes(), lock.read_bytes()
        started = time.monotonic()
        step = prune_dead_runs(config(sidecar_lock_wait_s=0.6), str(gen.state_dir),
                               gen.now_ms, dry_run=False)
        waited = time.monotonic() - started
        assert step.status == "skipped"
        assert f"held by pid {holder.pid}" in step.summary and "waited" in step.summary
        assert 0.6 <= waited < 10
        assert store.read_bytes() == original
        assert lock.read_bytes() == lock_bytes  # someone else's lock is never removed
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("how", ["too_old", "dead_pid"])
def test_r13_stale_sidecar_lock_is_taken(tmp_path: Path, how: str) -> None:
    gen = small_state(tmp_path)
    store = gen.stores["main"].path
    if how == "too_old":
        payload = {"pid": os.getppid(), "createdAt": "2020-01-01T00:00:00.000Z"}
    else:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        payload = {"pid": gone.pid,
                   "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    store.with_name("sessions.json.lock").write_text(json.dumps(payload, indent=2) + "\n")
    step = prune_dead_runs(config(sidecar_lock_wait_s=5), str(gen.state_dir), gen.now_ms,
                           dry_run=False)
    assert step.status == "done"
    assert "removed a stale sessions.json.lock" in step.stores[0].lock
    assert store.read_bytes() == gen.stores["main"].expected_after_prune()
    assert not store.with_name("sessions.json.lock").exists()


def test_r13_gateway_write_during_the_prune_makes_it_redo(tmp_path: Path) -> None:
    gen = small_state(tmp_path)
    store = gen.stores["main"].path
    writes: list[int] = []

    def gateway_writes(path: Path, attempt: int) -> None:
        if attempt == 1:  # a real process replaces the store just before ours goes in
            subprocess.run([sys.executable, "-c", WRITER, str(path), "agent:main:new"],
                           check=True)
            writes.append(attempt)

    step = prune_dead_runs(config(), str(gen.state_dir), gen.now_ms, dry_run=False,
                           before_replace=gateway_writes)
    result = step.stores[0]
    assert writes == [1] and result.attempts == 2 and result.status == "pruned"
    after = json.loads(store.read_bytes())
    assert "agent:main:new" in after  # the gateway's write was not lost
    assert not set(after) & gen.stores["main"].dead
    backups = [p for p in store.parent.iterdir() if BACKUP_MARK in p.name]
    assert len(backups) == 1 and b"agent:main:new" in backups[0].read_bytes()
    assert leftovers_of_ours(store.parent) == []


def test_r13_gateway_that_keeps_writing_wins_and_nothing_is_lost(tmp_path: Path) -> None:
    gen = small_state(tmp_path)
    store = gen.stores["main"].path

    def gateway_writes(path: Path, attempt: int) -> None:
        subprocess.run([sys.executable, "-c", WRITER, str(path), f"agent:main:new{attempt}"],
                       check=True)

    step = prune_dead_runs(config(prune_retries=2), str(gen.state_dir), gen.now_ms,
                           dry_run=False, before_replace=gateway_writes)
    result = step.stores[0]
    assert result.status == "skipped" and result.attempts == 3
    assert "kept writing" in result.reason
    after = json.loads(store.read_bytes())
    assert {"agent:main:new1", "agent:main:new2", "agent:main:new3"} <= set(after)
    assert set(gen.stores["main"].dead) <= set(after)  # nothing of ours went in
    assert not [p for p in store.parent.iterdir() if BACKUP_MARK in p.name]


def test_r13_dry_run_prune_reports_and_changes_nothing(tmp_path: Path) -> None:
    gen = small_state(tmp_path)
    before = tree_hashes(gen.state_dir)
    step = prune_dead_runs(config(), str(gen.state_dir), gen.now_ms, dry_run=True)
    assert step.status == "dry_run"
    assert step.removed == len(gen.stores["main"].dead) > 0
    assert step.stores[0].status == "would_prune" and step.stores[0].lock == "sidecar free"
    assert tree_hashes(gen.state_dir) == before


def test_r13_only_the_last_backups_are_kept(tmp_path: Path) -> None:
    gen = small_state(tmp_path)
    folder = gen.stores["main"].path.parent
    for ms in (1000, 1001, 1002, 1003):
        (folder / f"sessions.json{BACKUP_MARK}{ms}").write_text("old")
    (folder / f"sessions.json{BACKUP_MARK}999").symlink_to(tmp_path / "elsewhere")
    step = prune_dead_runs(config(backups_keep=2), str(gen.state_dir), gen.now_ms,
                           dry_run=False)
    names = sorted(p.name for p in folder.iterdir() if BACKUP_MARK in p.name)
    ours = step.stores[0].backup
    assert names == sorted([f"sessions.json{BACKUP_MARK}1003", ours,
                            f"sessions.json{BACKUP_MARK}999"])


def test_r13_stores_behind_symlinks_are_never_pruned(tmp_path: Path) -> None:
    outside = generate(tmp_path / "outside", agents=("evil",), jobs=2, runs_per_job=6,
                       groups=1, blob_min=100, blob_max=200)
    state = tmp_path / "state"
    (state / "agents").mkdir(parents=True)
    (state / "agents" / "evil").symlink_to(outside.stores["evil"].path.parent.parent)
    (state / "agents" / "linked" / "sessions").mkdir(parents=True)
    (state / "agents" / "linked" / "sessions" / "sessions.json").symlink_to(
        outside.stores["evil"].path)
    before = tree_hashes(tmp_path / "outside")
    step = prune_dead_runs(config(), str(state), outside.now_ms, dry_run=False)
    assert step.stores == []
    assert any("not a regular file" in n for n in step.notes)
    assert tree_hashes(tmp_path / "outside") == before


def test_r13_sidecar_lock_has_the_gateway_shape_and_is_exclusive(tmp_path: Path) -> None:
    from ctoops.actions import sidecar_lock

    store = tmp_path / "sessions.json"
    store.write_text("{}")
    ours = sidecar_lock.acquire(store, wait_s=1, stale_s=30)
    assert ours.taken
    payload = json.loads(ours.path.read_text())
    assert payload["pid"] == os.getpid()
    assert datetime.fromisoformat(payload["createdAt"].replace("Z", "+00:00")).tzinfo
    assert ours.path.read_text().endswith("}\n")
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from ctoops.actions import sidecar_lock as s; "
         "r = s.acquire(Path(sys.argv[1]), wait_s=0.3, stale_s=30); print(r.taken)", str(store)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert other.stdout.strip() == "False"  # our pid is alive and the lock is fresh
    ours.release()
    assert not ours.path.exists()
    replaced = sidecar_lock.acquire(store, wait_s=1, stale_s=30)
    replaced.path.write_text('{"pid": 1, "createdAt": "x"}')  # someone else's now
    replaced.release()
    assert replaced.path.exists()  # release never removes a lock that is not ours
