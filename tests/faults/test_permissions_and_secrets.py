"""Every command against one workspace (issue 12): no file or folder ctoops creates
is world-writable, even under `umask 000`, and the Discord secrets (a webhook URL
with its token, a bot token in the environment) appear in no file under the
workspace nor in any command's stdout or stderr, whatever Discord answers.

The run includes a real restart (with a prune of a file-era store), a chain
freeze, a held and an approved action, an outbox message, safe mode entered and
left, an install into a prefix, and a zombie-report with a healthy gateway.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from benchmarks.storegen import generate
from tests.conftest import REPO, Ran, ctoops_env, write_config
from tests.fakes.discord_server import FakeDiscord, Reply
from tests.sessions.openclaw_gen import make_state_db, task_row

T = 1_800_000_000.0


def _run_umask0(root: Path, args: list[str], env: dict[str, str]) -> Ran:
    """`ctoops --root ROOT ARGS` as a child process whose umask lets everything through."""
    proc = subprocess.run([sys.executable, "-m", "ctoops", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=120, env=ctoops_env(env),
                          cwd=REPO, preexec_fn=lambda: os.umask(0))
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def _world_writable(*roots: Path) -> list[str]:
    out = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode) and mode & stat.S_IWOTH:
                    out.append(f"{path} {stat.filemode(mode)}")
    return out


def test_every_command_creates_nothing_world_writable_and_leaks_no_secret(
        tmp_path: Path, ready_gateway_url: str, discord_server: FakeDiscord,
        fake_logger: tuple[dict, Path]) -> None:
    root = tmp_path / "ws"
    state_dir = tmp_path / "openclaw"
    prefix = tmp_path / "prefix"
    inputs = tmp_path / "inputs"  # what other tools write, outside the workspace
    old = os.umask(0o022)
    try:
        gen = generate(state_dir, agents=("main",), jobs=4, runs_per_job=4, groups=2,
                       blob_min=300, blob_max=600, now_ms=int(T * 1000))
        # A ledger task whose session is gone: check sessions adds it to the board,
        # creating the board and its folder.
        make_state_db(state_dir, release="2026.7.1", tasks=[task_row(
            "L9", "running", "agent:main:subagent:vanished", now_ms=int(T * 1000))])
        inputs.mkdir()
        (inputs / "events.jsonl").write_text("".join(
            json.dumps({"ts": T - i, "message": "upstream 502"}) + "\n" for i in range(8)))
    finally:
        os.umask(old)
    assert gen.dead_total > 0
    write_config(root, {
        "gateway": {"restart_command": [sys.executable, "-c",
                                        f"open({str(tmp_path / 'restarts.txt')!r}, 'a').write('r')"],
                    "state_dir": str(state_dir), "health_url": ready_gateway_url,
                    "ready_timeout_s": 5, "settle_s": 0, "log_dir": str(tmp_path / "gwlogs"),
                    "process_name": "no-such-gateway-xyz"},
        "guardrails": {"kill_critical_retries": 2},
        "notify": {"order": ["discord_bot", "discord_webhook", "mc_output", "syslog"],
                   "restart_notice_delay_s": 0,
                   "discord": {"webhook_url": "${CTOOPS_DISCORD_WEBHOOK}",
                               "channel_id": discord_server.channel_id,
                               "api_base": discord_server.api_base, "timeout_s": 1.0,
                               "max_inline_wait_s": 0.5}},
        "sessions": {"board_path": "memory/mc/board.json"},
        "retry_storm": {"sources": ["events"], "events_path": str(inputs / "events.jsonl"),
                        "threshold": 5}})
    os.chmod(root / "config" / "ctoops.yaml", 0o640)
    os.chmod(root / "config", 0o750)
    os.chmod(root, 0o750)
    secrets = [discord_server.webhook_url, discord_server.webhook_token, discord_server.bot_token]
    env = {"CTOOPS_DISCORD_WEBHOOK": discord_server.webhook_url,
           "CTOOPS_DISCORD_BOT_TOKEN": discord_server.bot_token, **fake_logger[0]}
    outputs: list[str] = []

    def run(*args: str, at: float = T, code: tuple[int, ...] | None = None) -> Ran:
        ran = _run_umask0(root, list(args), {**env, "CTOOPS_FAKE_NOW": repr(at)})
        outputs.append(ran.stdout + ran.stderr)
        assert "Traceback" not in ran.stderr, (args, ran.stderr)
        if code is not None:
            assert ran.returncode in code, (args, ran.returncode, ran.stdout, ran.stderr)
        return ran

    run("status", code=(0,))
    discord_server.script(Reply.unauthorized(), Reply.server_error(), Reply.server_error(),
                          Reply.rate_limited(30.0), Reply.forbidden(), Reply.slow(2.0),
                          Reply(400, {"message": "Invalid Form Body", "code": 50035}))
    for args in (["gate", "spawn"], ["gate", "chain"], ["--json", "check", "resources"],
                 ["--json", "check", "sessions"], ["--json", "retry-storm"],
                 ["--verbose", "--json", "zombie-report"], ["--dry-run", "safe-restart",
                                                            "--reason", "drill"]):
        run(*args)
    run("safe-restart", "--auto", "--reason", "memory drill", code=(0,))
    held = run("--json", "safe-restart", "--reason", "second within the window", at=T + 60,
               code=(77,))
    approval = held.json()["approval_id"]
    run("approvals", "list", code=(0,))
    run("approvals", "deny", approval, "--reason", "not now", at=T + 70, code=(0,))
    run("--verbose", "notify", "test", at=T + 80)
    run("--verbose", "notify", "flush", at=T + 90)
    run("notify", "gateway-up", at=T + 100, code=(0,))
    run("--json", "config", "show", code=(0,))
    run("config", "validate", code=(0,))
    run("audit", "tail", code=(0,))
    run("audit", "verify", code=(0,))
    (root / "memory" / "orchestration-state.json").write_bytes(b"{ torn")
    run("--json", "safe-mode", "show", at=T + 110)
    run("safe-mode", "leave", "--reason", "checked the quarantined file", at=T + 120, code=(0,))
    run("--json", "status", at=T + 130)
    run("install", "systemd", "--user", "--prefix", str(prefix), "--exec", "/usr/bin/ctoops",
        at=T + 140, code=(0,))
    run("uninstall", "systemd", "--user", "--prefix", str(prefix), at=T + 150, code=(0,))
    run("install", "systemd", "--system", "--prefix", str(prefix), "--exec", "/usr/bin/ctoops",
        "--restart-via", "polkit", at=T + 160, code=(0,))
    run("--json", "retry-storm", at=T + 4000)
    run("--json", "check", "sessions", at=T + 4000)

    # The run did what it says: a restart, a freeze, a board move, a queued message.
    assert (tmp_path / "restarts.txt").read_text() == "r"
    assert json.loads((root / "memory" / "mc" / "board.json").read_text())["tasks"][0][
        "status"] == "review"
    audit = (root / "logs" / "cto-ops-audit.log").read_text()
    assert '"chain_freeze"' in audit and '"quarantine_state"' in audit
    assert len(discord_server.posts()) >= 7  # every scripted answer was met
    # Nothing world-writable, under umask 000, in anything ctoops made.
    assert _world_writable(root, prefix, state_dir) == []
    # No secret anywhere.
    text = "\n".join(outputs) + fake_logger[1].read_text()
    for secret in secrets:
        assert secret not in text, f"{secret[:8]}… printed"
        for folder in (root, prefix):
            for path in folder.rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), f"{secret[:8]}… in {path}"
