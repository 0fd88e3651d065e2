"""SIGKILL at random points of the notification outbox's write and flush (issue 12;
actions/outbox.py, actions/notify_flow.py), against the fake Discord.

Each iteration forks a worker that either dispatches a new notice (outbox write,
claim, send, settle) or flushes the queue, and kills it at a random moment of
its run, while the fake Discord now and then asks for a short back-off or
answers slowly. After every kill: the state parses, the audit chain verifies (a
torn last line is allowed and counted), every queued message file is whole. At
the end one clean flush must deliver everything: no message that reached the
outbox, and no notice whose run finished, is lost; a message is sent twice only
when a kill fell between Discord taking it and the run recording that.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

from ctoops.actions import outbox
from ctoops.audit import verify
from ctoops.state import parse_state
from tests.conftest import run_ctoops
from tests.fakes.discord_server import FakeDiscord, Reply
from tests.faults.conftest import ForkServer, scaled, worker_log_tail
from tests.notify.support import webhook_config

TOKEN = "drill-"


def _titles_in(messages: list[dict]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for m in messages:
        for embed in m.get("embeds") or []:
            title = str(embed.get("title", ""))
            if title.startswith(TOKEN):
                seen[title] += 1
    return seen


def _check_after_kill(root: Path) -> bool:
    """The invariants that hold after any kill; returns whether the audit tail is torn."""
    state = root / "memory" / "orchestration-state.json"
    if state.exists():
        parse_state(state.read_bytes())
    result = verify(root / "logs" / "cto-ops-audit.log")
    assert result.ok, (result.bad_line, result.problem)
    folder = root / "memory" / "outbox"
    for name in outbox.pending(folder):
        try:
            message = outbox.read(folder, name)  # whole, parseable, ours
        except FileNotFoundError:
            continue
        assert message["notice"]["title"].startswith(TOKEN), name
    return result.torn_tail


def test_sigkill_during_outbox_write_and_flush_loses_no_message(
        workspace: Path, discord_server: FakeDiscord, forkserver: ForkServer) -> None:
    root = workspace
    webhook_config(root, discord_server.webhook_url, max_inline_wait_s=0.2, timeout_s=1.0)
    rng = random.Random(20260912)
    folder = root / "memory" / "outbox"
    # How long a whole run takes here, so the kills spread over all of it.
    warm = [forkserver.run("notify", root=str(root), title=f"{TOKEN}warm-{i}", body="warm-up")
            for i in range(5)]
    assert all(o.exit == 0 for o in warm), worker_log_tail(forkserver)
    # Each kind of run's recent whole durations: a kill lands anywhere in them.
    took = {"notify": [o.elapsed_s for o in warm], "flush": [o.elapsed_s for o in warm]}
    wanted: set[str] = {f"{TOKEN}warm-{i}" for i in range(5)}  # finished: must arrive
    in_outbox: set[str] = set()  # reached the outbox at some point: must arrive
    kills = torn = 0
    scripted_at = -1
    started = time.monotonic()
    for i in range(scaled(0.6)):
        roll = rng.random()
        if len(discord_server.posts()) > scripted_at:  # the last scripted answer was used
            if roll < 0.08:
                discord_server.script(Reply.rate_limited(0.3))  # a short back-off: a backlog
                scripted_at = len(discord_server.posts())
            elif roll < 0.2:
                discord_server.script(Reply.slow(rng.uniform(0.01, 0.05)))
                scripted_at = len(discord_server.posts())
        task = "notify" if rng.random() < 0.7 else "flush"
        recent = sorted(took[task][-15:])
        delay = rng.uniform(0.0, recent[len(recent) // 2] * 1.2)
        if task == "notify":
            title = f"{TOKEN}{i:05d}"
            out = forkserver.run("notify", delay=delay, root=str(root), title=title,
                                 body=f"fault drill message {i}")
            if not out.killed:
                assert out.exit == 0, worker_log_tail(forkserver)
                wanted.add(title)
        else:
            out = forkserver.run("flush", delay=delay, root=str(root), force=rng.random() < 0.3)
            assert out.killed or out.exit == 0, worker_log_tail(forkserver)
        kills += out.killed
        if not out.killed:
            took[task].append(out.elapsed_s)
        torn += _check_after_kill(root)
        for name in outbox.pending(folder):
            try:
                in_outbox.add(outbox.read(folder, name)["notice"]["title"])
            except FileNotFoundError:
                continue
    loop_s = time.monotonic() - started
    assert kills > scaled(0.6) // 5, f"only {kills} kills landed: the delays are off"

    # A killed run's claims run out (their lease: the send budget plus a minute);
    # once they have, and after any back-off Discord asked for, one clean pass
    # delivers the rest.
    for attempt in range(4):  # a back-off scripted for a killed run may still be queued
        later = {"CTOOPS_FAKE_NOW": str(time.time() + 120 + attempt)}
        flushed = run_ctoops(["--json", "notify", "flush"], root=root, env=later)
        if flushed.returncode == 0:
            break
        time.sleep(0.4)
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    assert outbox.pending(folder) == []
    # The next message written clears what killed writers left half-written.
    last = forkserver.run("notify", root=str(root), title=f"{TOKEN}last", body="after the drill")
    assert last.exit == 0, worker_log_tail(forkserver)
    wanted.add(f"{TOKEN}last")
    assert outbox.pending(folder) == []
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")], \
        "a killed writer's temp file was left in the outbox"
    delivered = _titles_in(discord_server.messages)
    lost = sorted((wanted | in_outbox) - set(delivered))
    assert not lost, f"{len(lost)} message(s) lost, e.g. {lost[:5]}"
    doubles = sum(n - 1 for n in delivered.values())
    assert doubles <= kills, f"{doubles} duplicates from {kills} kills"
    audit = run_ctoops(["--json", "audit", "verify"], root=root)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = audit.json()
    if torn or report["torn_sidecars"]:  # a torn tail is reported, never called tampering
        assert report["torn_sidecars"] or report["torn_tail"]
        assert "torn" in audit.stderr
    state = json.loads((root / "memory" / "orchestration-state.json").read_bytes())
    assert state["commands"]["notify"]["outbox"] == {}  # no stale bookkeeping left
    print(f"outbox: {scaled(0.6)} iterations, {kills} kills, {torn} torn audit tails seen, "
          f"{len(delivered)} delivered, {doubles} duplicate(s), loop {loop_s:.1f} s")


def test_next_outbox_write_clears_a_killed_writers_temp_file(
        workspace: Path, discord_server: FakeDiscord) -> None:
    """The reclaim the SIGKILL loop relies on, deterministically."""
    from ctoops.actions.notify import Notice, dispatch
    from tests.notify.support import make_ctx

    webhook_config(workspace, discord_server.webhook_url)
    folder = workspace / "memory" / "outbox"
    folder.mkdir(parents=True)
    stale = folder / ".000000000007-1800000000000.json.4242.tmp"
    stale.write_bytes(b'{"v": 1, "notice": {"ti')
    foreign = folder / "notes.tmp"  # not a name put() writes: left alone
    foreign.write_text("x")
    [sent] = dispatch(make_ctx(workspace), [Notice("faults", "drill", "low", "t", "b")])
    assert sent.delivered
    assert not stale.exists() and foreign.exists()
