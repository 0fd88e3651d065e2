"""The notification commands and the every-run outbox hook, as real child processes."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import REPO, ctoops_env
from tests.fakes.discord_server import Reply
from tests.notify.support import mc_lines, outbox_names, set_notify, webhook_config

AT = 1_800_000_000


def fake_now(t: float) -> dict[str, str]:
    return {"CTOOPS_FAKE_NOW": str(t)}


def test_r22_the_next_run_of_any_command_delivers_the_outbox(ctoops, workspace, down_url,
                                                             discord_server):
    webhook_config(workspace, down_url)
    for i in range(3):
        r = ctoops("notify", "gateway-up", env=fake_now(AT + 60 * i))
        assert r.returncode == 0, r.stderr
        assert "kept in the outbox" in r.stdout
    assert len(outbox_names(workspace)) == 3
    webhook_config(workspace, discord_server.webhook_url)
    r = ctoops("status", env=fake_now(AT + 600))  # backoff after the last failure is over
    assert r.returncode == 0, r.stderr
    assert outbox_names(workspace) == []
    stamps = [m["embeds"][0]["timestamp"] for m in discord_server.messages]
    assert stamps == ["2027-01-15T08:00:00Z", "2027-01-15T08:01:00Z", "2027-01-15T08:02:00Z"]
    assert all("late" in m["content"] for m in discord_server.messages)


def test_notify_flush_says_75_while_discord_is_down_and_0_once_delivered(
        ctoops, workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(*[Reply.server_error()] * 4)
    assert ctoops("notify", "gateway-up").returncode == 0
    r = ctoops("--json", "notify", "flush")
    assert r.returncode == 75, r.stdout + r.stderr
    doc = r.json()
    assert doc["outbox_pending"] == 1 and "HTTP 500" in doc["summary"]
    r = ctoops("--json", "notify", "flush")  # forced: tried even though backing off
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.json()["flush"]["delivered"] == 1 and outbox_names(workspace) == []
    r = ctoops("notify", "flush")
    assert r.returncode == 0 and "empty" in r.stdout


def test_notify_test_reports_what_each_channel_did(ctoops, workspace, discord_server,
                                                   fake_logger):
    env, record = fake_logger
    webhook_config(workspace, discord_server.webhook_url,
                   order=["discord_bot", "discord_webhook", "mc_output", "syslog"])
    r = ctoops("--json", "notify", "test", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    results = {c["channel"]: c["result"] for c in r.json()["channels"]}
    assert results == {"discord_bot": "skipped", "discord_webhook": "sent", "mc_output": "sent",
                       "syslog": "sent"}
    assert discord_server.messages[0]["embeds"][0]["title"] == "ctoops notification test"
    assert mc_lines(workspace)[-1]["type"] == "test"
    assert "-t" in record.read_text() and "ctoops" in record.read_text()
    # Under journald (JOURNAL_STREAM set) the stderr line is enough: no logger.
    record.unlink()
    r = ctoops("notify", "test", env={**env, "JOURNAL_STREAM": "8:1234"})
    assert r.returncode == 0 and not record.exists()
    assert "[LOW test] notify/test: ctoops notification test" in r.stderr


def test_notify_test_exits_1_and_names_the_wrong_credential(ctoops, workspace, discord_server):
    url = discord_server.webhook_url.replace(discord_server.webhook_token, "revokedToken123456")
    webhook_config(workspace, url)
    r = ctoops("notify", "test")
    assert r.returncode == 1
    assert "HTTP 401" in r.stdout and "credential" in r.stdout
    assert "revokedToken123456" not in r.stdout + r.stderr


def test_repeated_401_stops_the_channel_until_notify_test_passes(ctoops, workspace,
                                                                 discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(*[Reply.unauthorized()] * 3)
    for i in range(3):
        assert ctoops("notify", "gateway-up", env=fake_now(AT + i)).returncode == 0
    r = ctoops("notify", "gateway-up", env=fake_now(AT + 10))
    assert len(discord_server.posts()) == 3  # the 4th run did not try
    assert "stopped" in r.stderr or "stopped" in (workspace / "logs" / "cto-ops-audit.log"
                                                  ).read_text()
    audit = (workspace / "logs" / "cto-ops-audit.log").read_text()
    assert "notify_channel_stopped" in audit and "credential is wrong" in audit
    assert ctoops("notify", "test", env=fake_now(AT + 20)).returncode == 0  # fixed: re-opened
    assert ctoops("notify", "flush", env=fake_now(AT + 30)).returncode == 0
    assert outbox_names(workspace) == []


def test_gateway_up_never_fails_even_with_a_broken_config(ctoops, workspace):
    (workspace / "config" / "ctoops.yaml").write_text("notify: {order: [pigeon]}\n")
    r = ctoops("notify", "gateway-up")
    assert r.returncode == 0 and "pigeon" in r.stderr


def test_gateway_up_does_not_wait_on_a_discord_that_is_backing_off(ctoops, workspace,
                                                                   discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    discord_server.script(Reply.server_error(), Reply.server_error())
    assert ctoops("notify", "gateway-up", env=fake_now(AT)).returncode == 0
    started = time.monotonic()
    assert ctoops("notify", "gateway-up", env=fake_now(AT + 5)).returncode == 0
    assert len(discord_server.posts()) == 2 and time.monotonic() - started < 5


def test_concurrent_flushes_send_each_message_once(ctoops, workspace, down_url, discord_server):
    webhook_config(workspace, down_url)
    for i in range(6):
        assert ctoops("notify", "gateway-up", env=fake_now(AT + i)).returncode == 0
    webhook_config(workspace, discord_server.webhook_url, timeout_s=3.0)
    discord_server.script(*[Reply.slow(0.3)] * 6)
    argv = [sys.executable, "-m", "ctoops", "--root", str(workspace), "notify", "flush"]
    procs = [subprocess.Popen(argv, env=ctoops_env(fake_now(AT + 600)), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for p in procs:
        p.communicate(timeout=60)
    stamps = [m["embeds"][0]["timestamp"] for m in discord_server.messages]
    assert len(stamps) == 6 and len(set(stamps)) == 6  # each once
    assert outbox_names(workspace) == []


def test_an_empty_outbox_costs_no_requests_import(workspace):
    webhook_config(workspace, "https://discord.example/api/webhooks/1/abcdefgh")
    argv = [sys.executable, "-X", "importtime", "-m", "ctoops", "--root", str(workspace), "status"]
    proc = subprocess.run(argv, env=ctoops_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ctoops.cli" in imported
    assert "requests" not in imported and "urllib3" not in imported
    assert "ctoops.actions.notify" not in imported  # not even the notify module


def test_a_suppressed_alert_does_not_import_requests(workspace, discord_server):
    webhook_config(workspace, discord_server.webhook_url)
    code = ("import sys\nfrom ctoops.actions.notify import Notice, dispatch\n"
            "from ctoops.context import Context\n"
            f"ctx = Context(root_option={str(workspace)!r}); ctx.command = 't'\n"
            "n = Notice('resources', 'pressure', 'medium', 'P', 'b', condition=True)\n"
            "dispatch(ctx, [n])\nassert 'requests' in sys.modules\n"
            "del sys.modules['requests']\n"
            "print(dispatch(ctx, [n])[0].detail)\nprint('requests' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=ctoops_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    detail, reimported = proc.stdout.splitlines()
    assert detail.startswith("suppressed") and reimported == "False"


def test_bad_discord_settings_are_config_errors_that_hide_the_secret(ctoops, workspace):
    set_notify(workspace, discord={"webhook_url": "discord.com/api/webhooks/1/tokenTOKEN123"})
    r = ctoops("config", "validate")
    assert r.returncode == 78 and "webhook_url" in r.stderr
    assert "tokenTOKEN123" not in r.stdout + r.stderr
    set_notify(workspace, discord={"webhook_url": "", "channel_id": "#general"})
    r = ctoops("config", "validate")
    assert r.returncode == 78 and "channel_id" in r.stderr
