"""SIGKILL at random points of the dead-cron-run prune (R13 step 2, actions/prune.py)
on generated file-era stores whose exact bytes before and after are known
(benchmarks/storegen.py computes the expected file from its own bytes).

After every kill each store is byte for byte either the one the gateway wrote
or the pruned one (so every kept session is there with identical bytes, and the
store always parses); a sidecar lock or temp file a killed run left behind is
reclaimed by the next run; the backups stay bounded.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

from benchmarks.storegen import Generated, generate
from ctoops.actions.prune import BACKUP_MARK
from tests.conftest import write_config
from tests.faults.conftest import ForkServer, scaled, worker_log_tail

BACKUPS_KEEP = 3


def _restore(gen: Generated, originals: dict[str, bytes]) -> None:
    """Put the unpruned stores back the way the gateway writes: a new file, renamed."""
    for agent, store in gen.stores.items():
        tmp = store.path.with_name("sessions.json.gw-restore.tmp")
        tmp.write_bytes(originals[agent])
        os.replace(tmp, store.path)


def _litter(folder: Path) -> list[str]:
    """Files a prune run creates and must not leave behind once it is over."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith(".tmp") and ".ctoops-" in p.name)


def _check_stores(gen: Generated, originals: dict[str, bytes]) -> dict[str, str]:
    """Each store is the old one or the new one, whole; returns which, per agent."""
    which = {}
    for agent, store in gen.stores.items():
        data = store.path.read_bytes()
        json.loads(data)  # always parses
        if data == originals[agent]:
            which[agent] = "old"
        elif data == store.expected_after_prune():
            which[agent] = "new"
        else:
            raise AssertionError(f"{store.path} is neither the old nor the pruned store")
    return which


def test_sigkill_during_prune_keeps_every_live_session_byte_identical(
        tmp_path: Path, forkserver: ForkServer) -> None:
    root = tmp_path / "ws"
    state_dir = tmp_path / "openclaw"
    write_config(root, {"restart": {"backups_keep": BACKUPS_KEEP, "sidecar_lock_wait_s": 0.1,
                                    "sidecar_stale_s": 1}})
    gen = generate(state_dir, jobs=8, runs_per_job=16, groups=6, blob_min=2000, blob_max=6000,
                   styles=("gateway", "compact"))
    originals = {a: s.path.read_bytes() for a, s in gen.stores.items()}
    assert gen.dead_total > 50 and all(s.dead for s in gen.stores.values())
    args = {"root": str(root), "state_dir": str(state_dir), "now_ms": float(gen.now_ms)}
    warm = forkserver.run("prune", **args)
    assert warm.exit == 0, worker_log_tail(forkserver)
    assert set(_check_stores(gen, originals).values()) == {"new"}
    span = warm.elapsed_s * 1.3
    rng = random.Random(4242)
    seen = {"old": 0, "new": 0}
    kills = checked = 0
    started = time.monotonic()
    for i in range(scaled(0.4)):
        _restore(gen, originals)
        clean = i % 10 == 9  # now and then a run that is not killed must finish the job
        out = forkserver.run("prune", delay=None if clean else rng.uniform(0.0, span), **args)
        kills += out.killed
        which = _check_stores(gen, originals)
        for w in which.values():
            seen[w] += 1
        if not out.killed:
            assert out.exit == 0, worker_log_tail(forkserver)
        if clean:
            checked += 1
            # A lock or temp file of a killed run is reclaimed, not obeyed forever:
            # this run pruned both stores (or found the sidecar of a run killed in
            # its first microseconds, not yet stale, and left the store alone).
            folders = {s.path.parent for s in gen.stores.values()}
            for folder in folders:
                assert _litter(folder) == [], _litter(folder)
                backups = [p for p in folder.iterdir() if BACKUP_MARK in p.name]
                assert len(backups) <= BACKUPS_KEEP
            assert "new" in which.values(), worker_log_tail(forkserver)
    loop_s = time.monotonic() - started
    assert kills >= scaled(0.4) // 4, f"only {kills} kills landed"
    assert seen["old"] and seen["new"], seen  # kills fell before and after the replace
    print(f"prune: {scaled(0.4)} iterations, {kills} kills, stores seen old/new {seen}, "
          f"{checked} clean runs checked, loop {loop_s:.1f} s")


def test_prune_removes_only_the_temp_files_of_dead_prune_runs(tmp_path: Path) -> None:
    """The reclaim the SIGKILL loop relies on, deterministically: a dead run's temp
    copy goes, a live run's stays, a symlink of that name goes as a link only."""
    import subprocess
    import sys

    from ctoops.actions.dead_runs import prune_dead_runs
    from ctoops.config import load_config

    gen = generate(tmp_path / "state", agents=("main",), jobs=4, runs_per_job=4, groups=2,
                   blob_min=200, blob_max=400)
    folder = gen.stores["main"].path.parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_tmp = folder / f"sessions.json.ctoops-{int(dead.stdout)}-0123abcd.tmp"
    dead_tmp.write_bytes(b"half a store")
    live_tmp = folder / f"sessions.json.ctoops-{os.getpid()}-0123abcd.tmp"
    live_tmp.write_bytes(b"a live writer's")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the gateway's")
    link = folder / "sessions.json.ctoops-999999999-0badf00d.tmp"
    link.symlink_to(outside)
    other = folder / "sessions.json.gateway-1234.tmp"  # the gateway's own temp: not ours
    other.write_bytes(b"x")
    step = prune_dead_runs(load_config(None), str(tmp_path / "state"), gen.now_ms, False)
    assert step.status == "done", step.summary
    assert not dead_tmp.exists() and not link.is_symlink()
    assert live_tmp.exists() and other.exists() and outside.read_text() == "not the gateway's"
    assert any("left by a prune run that died" in n for s in step.stores for n in s.notes)
