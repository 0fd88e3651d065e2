"""A full disk and a read-only workspace for the newer writers (issue 12): the
outbox, mc-output, the MC board (check sessions) and the retry-storm state. Each
gives a clear error, leaves no partial file, and loses nothing: what could not be
written is written (or sent) by a later run once there is room.

The full disk is a 256 KiB tmpfs filled to its last byte; the read-only
workspace a bind mount remounted read-only. Both need root in a namespace that
allows mounting; elsewhere the tests skip, saying so.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from ctoops.actions import outbox
from tests.conftest import Ran, run_ctoops, write_config
from tests.fakes.discord_server import FakeDiscord
from tests.faults import gateway_fixture as gw
from tests.faults.conftest import ReadOnly, fill_disk, tree_bytes

NOW = {"CTOOPS_FAKE_NOW": str(gw.NOW_S)}
GONE = "agent:main:subagent:gone"  # a board task's session the store does not have


def _written(root: Path) -> dict[str, bytes]:
    """The files under root with content (a write refused by a full disk may leave
    the empty file it had just created: no torn bytes, nothing to misread)."""
    return {k: v for k, v in tree_bytes(root).items() if v and k != "filler"}


def _partials(root: Path) -> list[str]:
    """Temp files or torn JSON documents anywhere under root."""
    bad = [str(p) for p in root.rglob("*") if p.name.endswith(".tmp")]
    for p in root.rglob("*.json"):
        if p.is_file() and p.name != "filler":
            try:
                json.loads(p.read_bytes())
            except ValueError:
                bad.append(str(p))
    return bad


def _clean_error(ran: Ran, code: int, words: str) -> None:
    assert ran.returncode == code, (ran.returncode, ran.stdout, ran.stderr)
    assert words in ran.stderr and "Traceback" not in ran.stderr, ran.stderr


def _sessions_ws(root: Path, state_dir: Path, board: Path) -> None:
    gw.build(state_dir)
    write_config(root, {"gateway": {"state_dir": str(state_dir), "health_url": "http://127.0.0.1:9",
                                    "restart_command": [sys.executable, "-c", "pass"],
                                    "process_name": "no-such-gateway-xyz"},
                        "sessions": {"board_path": str(board)},
                        "notify": {"order": ["mc_output"]}})
    board.parent.mkdir(parents=True, exist_ok=True)
    board.write_text(json.dumps({"version": 1, "tasks": [
        {"id": "T9", "status": "in_progress", "session_key": GONE, "title": "lost one"}]}))


def _moved(board: Path) -> bool:
    return json.loads(board.read_bytes())["tasks"][0]["status"] == "review"


# --- the outbox ---------------------------------------------------------------------
def test_full_disk_outbox_has_no_partial_message_and_no_notice_is_lost(
        tiny_disk: Path, discord_server: FakeDiscord, fake_logger: tuple[dict, Path]) -> None:
    root = tiny_disk / "ws"
    write_config(root, {"notify": {"order": ["discord_webhook", "mc_output", "syslog"],
                                   "discord": {"webhook_url": discord_server.webhook_url,
                                               "timeout_s": 1.0}}})
    env = fake_logger[0]
    assert run_ctoops(["status"], root=root, env=env).returncode == 0
    state = root / "memory" / "orchestration-state.json"
    before = state.read_bytes()
    filler = fill_disk(tiny_disk)
    ran = run_ctoops(["notify", "gateway-up"], root=root, env=env)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr  # a hook never fails its unit
    assert "No space left" in ran.stderr
    assert "Gateway started" in ran.stderr + fake_logger[1].read_text()  # the journal has it
    assert outbox.pending(root / "memory" / "outbox") == []
    assert _partials(root) == [] and state.read_bytes() == before
    filler.unlink()
    ran = run_ctoops(["notify", "gateway-up"], root=root, env=env)
    assert ran.returncode == 0 and len(discord_server.messages) == 1, ran.stderr


def test_full_disk_queued_message_stays_queued_until_there_is_room(
        tiny_disk: Path, discord_server: FakeDiscord) -> None:
    from tests.fakes.discord_server import Reply

    root = tiny_disk / "ws"
    write_config(root, {"notify": {"order": ["discord_webhook", "mc_output"],
                                   "discord": {"webhook_url": discord_server.webhook_url,
                                               "timeout_s": 1.0, "max_inline_wait_s": 0}}})
    discord_server.script(Reply.rate_limited(0.5))  # Discord asks to wait: queued
    assert run_ctoops(["notify", "gateway-up"], root=root).returncode == 0
    [queued] = outbox.pending(root / "memory" / "outbox")
    filler = fill_disk(tiny_disk)
    soon = time.time() + 60  # past the back-off, well within the message's lifetime
    ran = run_ctoops(["notify", "flush"], root=root, env={"CTOOPS_FAKE_NOW": str(soon)})
    assert ran.returncode in (1, 75) and "Traceback" not in ran.stderr, ran.stderr
    assert _partials(root) == []
    kept = outbox.pending(root / "memory" / "outbox")
    assert kept in ([queued], [])  # still queued, or sent (its removal needs no room)
    filler.unlink()
    ran = run_ctoops(["notify", "flush"], root=root, env={"CTOOPS_FAKE_NOW": str(soon + 60)})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert outbox.pending(root / "memory" / "outbox") == []
    assert len(discord_server.messages) >= 1


# --- mc-output ----------------------------------------------------------------------
def test_full_disk_takes_a_torn_mc_output_record_back(tiny_disk: Path) -> None:
    """A full disk accepts part of a long record; that part must not stay, or the
    next record would start mid-line and be lost to every reader."""
    from ctoops.actions.mc_output import mc_output_path, read_records, write_mc_output
    from ctoops.context import Context

    root = tiny_disk / "ws"
    write_config(root, {})
    ctx = Context(root_option=str(root))
    write_mc_output(ctx, {"type": "before"})
    path = mc_output_path(ctx)
    kept = path.read_bytes()
    filler = fill_disk(tiny_disk)
    with pytest.raises(OSError) as caught:
        write_mc_output(ctx, {"type": "long", "body": "x" * 6000})
    assert caught.value.errno == 28 and "No space left" in str(caught.value)
    assert path.read_bytes() == kept
    filler.unlink()
    write_mc_output(ctx, {"type": "after"})
    assert [r["type"] for r in read_records(path)] == ["before", "after"]


# --- the board (check sessions) -------------------------------------------------------
def test_full_disk_under_the_board_is_a_finding_and_the_move_happens_later(
        tiny_disk: Path, tmp_path: Path) -> None:
    root, board = tmp_path / "ws", tiny_disk / "mc" / "board.json"
    _sessions_ws(root, tmp_path / "openclaw", board)
    before = board.read_bytes()
    filler = fill_disk(tiny_disk)
    ran = run_ctoops(["--json", "check", "sessions"], root=root, env=NOW)
    assert ran.returncode in (1, 2) and "Traceback" not in ran.stderr, ran.stderr
    report = ran.json()
    assert any("not written to the board" in f["message"] and "No space left" in f["message"]
               for f in report["findings"]), report["findings"]
    assert board.read_bytes() == before and _partials(tiny_disk) == []
    filler.unlink()
    ran = run_ctoops(["--json", "check", "sessions"], root=root, env=NOW)
    assert ran.returncode in (0, 1, 2) and "Traceback" not in ran.stderr, ran.stderr
    assert _moved(board)  # the move was remembered and done once there was room
    audits = [json.loads(x) for x in (root / "logs" / "cto-ops-audit.log").read_text().splitlines()]
    assert [a["outcome"] for a in audits if a["action"] == "task_to_review"] == ["failed", "done"]


def test_full_disk_under_the_workspace_stops_check_sessions_before_any_change(
        tiny_disk: Path, tmp_path: Path) -> None:
    root = tiny_disk / "ws"
    board = root / "memory" / "mc-board.json"
    _sessions_ws(root, tmp_path / "openclaw", board)
    assert run_ctoops(["status"], root=root).returncode == 0
    before = _written(root)
    filler = fill_disk(tiny_disk)
    ran = run_ctoops(["check", "sessions"], root=root, env=NOW)
    _clean_error(ran, 3, "No space left")
    assert _written(root) == before and _partials(root) == []
    filler.unlink()
    assert run_ctoops(["check", "sessions"], root=root, env=NOW).returncode in (1, 2)
    assert _moved(board)


# --- the retry-storm state -------------------------------------------------------------
def _storm_ws(root: Path) -> None:
    write_config(root, {"retry_storm": {"sources": ["events"], "events_path": "logs/events.jsonl",
                                        "threshold": 5},
                        "notify": {"order": ["mc_output"]},
                        "gateway": {"restart_command": [sys.executable, "-c", "pass"]}})
    (root / "logs").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"ts": gw.NOW_S - 10 * i, "message": f"upstream 502 from api-{i % 2}"})
             for i in range(8)]
    (root / "logs" / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_full_disk_retry_storm_freezes_nothing_now_and_the_storm_is_counted_later(
        tiny_disk: Path) -> None:
    root = tiny_disk / "ws"
    _storm_ws(root)
    assert run_ctoops(["status"], root=root, env=NOW).returncode == 0
    before = _written(root)
    filler = fill_disk(tiny_disk)
    ran = run_ctoops(["retry-storm"], root=root, env=NOW)
    _clean_error(ran, 3, "No space left")
    assert _written(root) == before and _partials(root) == []
    assert run_ctoops(["gate", "chain"], root=root, env=NOW).returncode == 0  # no half freeze
    filler.unlink()
    ran = run_ctoops(["--json", "retry-storm"], root=root, env=NOW)
    assert ran.returncode == 2, ran.stdout + ran.stderr  # the events were not lost
    assert run_ctoops(["gate", "chain"], root=root, env=NOW).returncode == 1


# --- a read-only workspace -------------------------------------------------------------
def test_read_only_workspace_newer_writers_fail_clearly_and_lose_nothing(
        tmp_path: Path, discord_server: FakeDiscord, fake_logger: tuple[dict, Path]) -> None:
    from tests.fakes.discord_server import Reply

    root = tmp_path / "ro"
    state_dir = tmp_path / "openclaw"
    board = root / "memory" / "mc-board.json"
    _sessions_ws(root, state_dir, board)
    _storm_ws(root)  # (rewrites the config: put the sessions keys back)
    write_config(root, {
        "gateway": {"state_dir": str(state_dir), "health_url": "http://127.0.0.1:9",
                    "restart_command": [sys.executable, "-c", "pass"],
                    "process_name": "no-such-gateway-xyz"},
        "sessions": {"board_path": str(board)},
        "retry_storm": {"sources": ["events"], "events_path": "logs/events.jsonl",
                        "threshold": 5},
        "notify": {"order": ["discord_webhook", "mc_output", "syslog"],
                   "discord": {"webhook_url": discord_server.webhook_url, "timeout_s": 1.0,
                               "max_inline_wait_s": 0}}})
    env = {**NOW, **fake_logger[0]}
    discord_server.script(Reply.rate_limited(0.5))
    assert run_ctoops(["notify", "gateway-up"], root=root, env=env).returncode == 0
    queued = outbox.pending(root / "memory" / "outbox")
    assert len(queued) == 1
    sent_before = len(discord_server.messages)
    before = tree_bytes(root)
    later = {**env, "CTOOPS_FAKE_NOW": str(gw.NOW_S + 60)}
    with ReadOnly(root):
        _clean_error(run_ctoops(["check", "sessions"], root=root, env=later), 3, "Read-only")
        _clean_error(run_ctoops(["retry-storm"], root=root, env=later), 3, "Read-only")
        _clean_error(run_ctoops(["notify", "flush"], root=root, env=later), 1, "Read-only")
        ran = run_ctoops(["notify", "gateway-up"], root=root, env=later)
        assert ran.returncode == 0 and "Read-only" in ran.stderr and "Traceback" not in ran.stderr
        assert "Gateway started" in ran.stderr + fake_logger[1].read_text()
        assert tree_bytes(root) == before
    assert len(discord_server.messages) == sent_before  # nothing sent it was not sure of
    # Writable again: the queued message goes out, the board move and the storm happen.
    assert run_ctoops(["notify", "flush"], root=root, env=later).returncode == 0
    assert outbox.pending(root / "memory" / "outbox") == []
    assert run_ctoops(["check", "sessions"], root=root, env=later).returncode in (1, 2)
    assert _moved(board)
    assert run_ctoops(["retry-storm"], root=root, env=later).returncode == 2
