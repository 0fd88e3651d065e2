"""dispatch() end to end in-process: dedup, the outbox, fallbacks, the lock.

Real workspace files, the real state store, real HTTP to the fake Discord; only
the clock is fixed (Context takes an injected clock)."""

from __future__ import annotations

import json
import threading
import time

from ctoops.actions import notify
from ctoops.actions.notify import Notice, dispatch
from ctoops.audit import read_tail
from ctoops.workspace import Workspace, workspace_lock
from tests.fakes.discord_server import Reply
from tests.notify.support import T0, make_ctx, mc_lines, outbox_names, set_notify, webhook_config


def pressure(active: bool = True, risk: str = "medium") -> Notice:
    return Notice("resources", "pressure", risk, "Memory pressure", "RSS 91% of MemoryHigh",
                  condition=True, active=active, fields={"reason": "RSS over 90%"})


def restart(title: str = "Restart coming") -> Notice:
    return Notice("gateway", "restart_coming", "high", title, "safe-restart in 3 s")


def test_r10_condition_alert_then_reminder_then_resolved_on_discord(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    set_notify(workspace, repeat_interval_s=600)
    sent = []
    for minute in range(12):
        (d,) = dispatch(make_ctx(workspace, T0 + 60 * minute), [pressure()])
        sent.append(d.delivered)
    (resolved,) = dispatch(make_ctx(workspace, T0 + 720), [pressure(active=False)])
    (quiet,) = dispatch(make_ctx(workspace, T0 + 780), [pressure(active=False)])
    assert sent == [True] + [False] * 9 + [True, False]  # minute 0, then minute 10
    assert resolved.delivered and not quiet.delivered and "quiet" in quiet.detail
    contents = [m["content"] for m in discord_server.messages]
    assert len(contents) == 3
    assert "reminder" in contents[1] and "active since" in contents[1]
    assert "RESOLVED" in contents[2]
    assert outbox_names(workspace) == []


def test_events_are_always_sent(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    for i in range(3):
        (d,) = dispatch(make_ctx(workspace, T0 + i), [restart()])
        assert d.delivered and d.channel == "discord_webhook"
    assert len(discord_server.messages) == 3


def test_r22_discord_down_falls_back_to_mc_output_and_keeps_the_message(workspace, down_url):
    webhook_config(workspace, down_url)
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.delivered and d.channel == "mc_output" and d.queued
    assert "cannot connect" in d.detail
    assert [r["title"] for r in mc_lines(workspace)] == ["Restart coming"]
    assert len(outbox_names(workspace)) == 1


def test_r22_discord_500_falls_back_and_keeps_the_message(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(Reply.server_error(), Reply.server_error())
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.channel == "mc_output" and d.queued and "HTTP 500" in d.detail
    assert len(outbox_names(workspace)) == 1


def test_outbox_keeps_and_later_delivers_every_message_in_order(workspace, down_url,
                                                                  discord_server):
    webhook_config(workspace, down_url)
    titles = [f"message {i}" for i in range(6)]
    for i, title in enumerate(titles):
        ctx = make_ctx(workspace, T0 + 60 * i)
        (d,) = dispatch(ctx, [restart(title)])
        assert d.queued
    assert len(outbox_names(workspace)) == 6
    # Discord comes back; a flush later delivers all, oldest first, each once.
    webhook_config(workspace, discord_server.webhook_url)
    res = notify.flush(make_ctx(workspace, T0 + 3600), force=True)
    assert len(res.delivered) == 6 and res.kept == []
    got = [m["embeds"][0]["title"] for m in discord_server.messages]
    assert got == titles
    first = discord_server.messages[0]
    assert first["embeds"][0]["timestamp"] == "2027-01-15T08:00:00Z"  # written at T0
    assert "written 2027-01-15T08:00:00Z" in first["content"]
    assert outbox_names(workspace) == []
    # The fallback copy was written once per message, not once per retry.
    assert [r["title"] for r in mc_lines(workspace)] == titles


def test_new_messages_queue_behind_older_ones(workspace, down_url, discord_server):
    webhook_config(workspace, down_url)
    dispatch(make_ctx(workspace, T0), [restart("old")])
    webhook_config(workspace, discord_server.webhook_url)
    # The next dispatch sends the queued one first, then its own.
    (d,) = dispatch(make_ctx(workspace, T0 + 120), [restart("new")])
    assert d.channel == "discord_webhook" and not d.queued
    assert [m["embeds"][0]["title"] for m in discord_server.messages] == ["old", "new"]


def test_backoff_after_failure_skips_discord_on_the_next_run(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(Reply.server_error(), Reply.server_error())
    dispatch(make_ctx(workspace, T0), [restart("a")])
    (d,) = dispatch(make_ctx(workspace, T0 + 10), [restart("b")])
    assert "backing off" in d.detail and len(discord_server.posts()) == 2
    (d,) = dispatch(make_ctx(workspace, T0 + 40), [restart("c")])  # backoff (30 s) over
    assert d.channel == "discord_webhook"
    assert [m["embeds"][0]["title"] for m in discord_server.messages] == ["a", "b", "c"]


def test_urgent_notice_tries_discord_during_backoff(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(Reply.server_error(), Reply.server_error())
    dispatch(make_ctx(workspace, T0), [restart("a")])
    urgent = Notice("gateway", "zombie", "high", "Gateway hung", "no answer", urgent=True)
    (d,) = dispatch(make_ctx(workspace, T0 + 5), [urgent])
    assert d.channel == "discord_webhook"


def test_expired_messages_leave_the_outbox_with_an_audit_line(workspace, down_url):
    webhook_config(workspace, down_url)
    set_notify(workspace, outbox_max_age_s=3600)
    dispatch(make_ctx(workspace, T0), [restart("too old")])
    res = notify.flush(make_ctx(workspace, T0 + 3601))
    assert len(res.expired) == 1 and outbox_names(workspace) == []
    audit = read_tail(Workspace(workspace).audit_log, 5)
    (line,) = [a for a in audit if a["outcome"] == "expired"]
    assert "too old" in line["reason"] and "cannot connect" in line["reason"]
    assert line["details"]["attempts"] == 1


def test_an_unreadable_outbox_file_is_moved_aside_not_lost(workspace, down_url, discord_server):
    webhook_config(workspace, down_url)
    dispatch(make_ctx(workspace), [restart()])
    (name,) = outbox_names(workspace)
    (workspace / "memory" / "outbox" / name).write_text("{not json", encoding="utf-8")
    webhook_config(workspace, discord_server.webhook_url)
    res = notify.flush(make_ctx(workspace, T0 + 60))
    assert res.quarantined == [name] and outbox_names(workspace) == []
    aside = list((workspace / "memory" / "outbox").glob(name + ".corrupt-*"))
    assert aside and aside[0].read_text(encoding="utf-8") == "{not json"
    audit = read_tail(Workspace(workspace).audit_log, 5)
    assert any(a["outcome"] == "quarantined" for a in audit)


def test_sending_happens_outside_the_workspace_lock(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url, timeout_s=3.0)
    discord_server.script(Reply.slow(1.0))
    done = threading.Event()
    thread = threading.Thread(target=lambda: (dispatch(make_ctx(workspace), [restart()]),
                                              done.set()))
    thread.start()
    deadline = time.monotonic() + 5
    while not discord_server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert discord_server.requests, "the request never arrived"
    lock = workspace_lock(Workspace(workspace), timeout_s=0.3)
    lock.acquire()  # would time out if dispatch held the lock while sending
    lock.release()
    assert not done.is_set()
    thread.join(10)
    assert done.is_set() and len(discord_server.messages) == 1


def test_no_discord_configured_means_local_delivery_and_no_outbox(workspace):
    set_notify(workspace, order=["discord_webhook", "mc_output"],
               discord={"webhook_url": ""})
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.delivered and d.channel == "mc_output" and not d.queued
    assert outbox_names(workspace) == []


def test_dry_run_sends_nothing_and_writes_nothing(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    ctx = make_ctx(workspace)
    ctx.dry_run = True
    (d,) = dispatch(ctx, [restart()])
    assert not d.delivered and "dry-run" in d.detail
    assert discord_server.requests == [] and mc_lines(workspace) == []


def test_dedup_memory_lives_in_state_alerts(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    dispatch(make_ctx(workspace), [pressure()])
    state = json.loads((workspace / "memory" / "orchestration-state.json").read_text())
    rec = state["alerts"]["resources:pressure"]
    assert rec["active"] and rec["first_ts"] == T0 and rec["last_sent_ts"] == T0


def test_a_huge_or_secret_laden_notice_survives_the_outbox_and_fits_discord(
        workspace, down_url, discord_server):
    webhook_config(workspace, down_url)
    body = 'password=hunter2hunter2"quoted ' + "x" * 2_000_000
    (d,) = dispatch(make_ctx(workspace), [Notice("gateway", "log", "high", "Huge", body)])
    assert d.queued
    (name,) = outbox_names(workspace)
    assert (workspace / "memory" / "outbox" / name).stat().st_size < 100_000
    webhook_config(workspace, discord_server.webhook_url)
    assert len(notify.flush(make_ctx(workspace, T0 + 60)).delivered) == 1
    (msg,) = discord_server.messages
    assert "hunter2" not in json.dumps(msg) and msg["embeds"][0]["description"].endswith("[truncated]")


def test_while_discord_backs_off_a_run_does_not_even_take_the_lock(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(Reply.server_error(), Reply.server_error())
    dispatch(make_ctx(workspace, T0), [restart()])
    state_file = workspace / "memory" / "orchestration-state.json"
    before = state_file.read_bytes()
    res = notify.flush(make_ctx(workspace, T0 + 10))  # backing off until T0 + 30
    assert state_file.read_bytes() == before
    assert len(res.kept) == 1 and "backing off" in res.errors[0]
    assert len(discord_server.posts()) == 2
    res = notify.flush(make_ctx(workspace, T0 + 40))  # back-off over: a real pass
    assert len(res.delivered) == 1 and state_file.read_bytes() != before


def test_unreadable_state_still_reaches_a_local_channel(workspace, monkeypatch, capsys):
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")  # the stderr line is the syslog copy
    set_notify(workspace, order=["discord_webhook", "mc_output", "syslog"])
    state = workspace / "memory" / "orchestration-state.json"
    state.mkdir(parents=True)  # a directory where the state file should be
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.delivered and d.channel == "mc_output"
    assert "without dedup" in capsys.readouterr().err


def test_mc_output_unwritable_falls_through_to_syslog(workspace, monkeypatch, capsys):
    monkeypatch.setenv("JOURNAL_STREAM", "8:1")
    set_notify(workspace, order=["mc_output", "syslog"], mc_output="logs/blocked")
    (workspace / "logs" / "blocked").mkdir(parents=True)
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.delivered and d.channel == "syslog"
    assert "[HIGH] gateway/restart_coming: Restart coming" in capsys.readouterr().err


def test_a_symlink_in_the_outbox_is_not_followed(workspace, down_url, discord_server, tmp_path):
    webhook_config(workspace, down_url)
    dispatch(make_ctx(workspace), [restart()])
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"notice": {"title": "not ours"}}), encoding="utf-8")
    link = f"000000000000-{int(T0 * 1000)}.json"  # sorts first, not expired
    (workspace / "memory" / "outbox" / link).symlink_to(outside)
    webhook_config(workspace, discord_server.webhook_url)
    res = notify.flush(make_ctx(workspace, T0 + 60))
    assert res.quarantined == [link] and len(res.delivered) == 1
    assert [m["embeds"][0]["title"] for m in discord_server.messages] == ["Restart coming"]
    assert outside.exists() and outbox_names(workspace) == []


def test_an_unwritable_outbox_still_reaches_a_local_channel(workspace, discord_server, capsys):
    webhook_config(workspace, discord_server.webhook_url)
    (workspace / "memory").mkdir(parents=True, exist_ok=True)
    (workspace / "memory" / "outbox").write_text("a file where the folder should be")
    (d,) = dispatch(make_ctx(workspace), [restart()])
    assert d.delivered and d.channel == "mc_output"
    assert "local channels only" in capsys.readouterr().err
