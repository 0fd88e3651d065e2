"""`ctoops notify test`: one test message through every configured channel.

Apart from the pipeline in notify.py because it deliberately skips what protects
a timer run: it tries every channel (not stopping at the first that works),
ignores back-off and a stopped credential (this is how an operator checks a
fix), and does not queue a failed test in the outbox. What it learns about each
channel is kept, so a passing test re-opens a stopped channel.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ctoops.actions.mc_output import write_mc_output
from ctoops.actions.notify import Notice, new_message
from ctoops.actions.notify_flow import learn_channels, notify_memory
from ctoops.audit import AuditEvent

if TYPE_CHECKING:
    from ctoops.actions.delivery import RemoteRun
    from ctoops.context import Context


@dataclass(frozen=True)
class ChannelCheck:
    channel: str
    result: str  # sent | failed | skipped
    detail: str


def send_test(ctx: Context) -> list[ChannelCheck]:
    """One test message through every channel of `notify.order`, each on its own
    (not stopping at the first that works), ignoring back-off and a stopped
    credential: this is how an operator checks a fix. Not queued when it fails."""
    from ctoops.actions import delivery, discord, discord_payload

    cfg = ctx.config.notify
    now = ctx.clock.now()
    host = socket.gethostname()
    message = new_message(Notice(
        "notify", "test", "low", "ctoops notification test",
        f"A test message from ctoops on {host} (workspace {ctx.workspace.root}). "
        "If you can read this, the channel works.",
        fields={"reason": "`ctoops notify test`", "action": "none", "outcome": "test message"}),
        "test", None, now)
    try:
        channels = dict(notify_memory(ctx.store().read())["channels"])
    except (OSError, ValueError):
        channels = {}
    remote = {e.name: e for e in discord.targets(cfg)}
    checks: list[ChannelCheck] = []
    runs: list[RemoteRun] = []
    for name in cfg.order:
        entry = remote.get(name)
        if isinstance(entry, discord.Skipped):
            checks.append(ChannelCheck(name, "skipped", entry.reason))
        elif isinstance(entry, discord.Target):
            run = delivery.RemoteRun([entry], channels, cfg.discord, now, ignore_backoff=True,
                                     ignore_auth_stop=True)
            try:
                sent = run.send(discord_payload.build(message, host, now))
            finally:
                run.close()
            runs.append(run)
            checks.append(ChannelCheck(name, "sent", f"{sent.label}: delivered") if sent.via
                          else ChannelCheck(name, "failed", sent.detail))
        elif name == "mc_output":
            try:
                write_mc_output(ctx, {**delivery.mc_output_record(message), "type": "test"})
                checks.append(ChannelCheck(name, "sent", "appended to "
                                           f"{ctx.workspace.path(cfg.mc_output)}"))
            except OSError as exc:
                checks.append(ChannelCheck(name, "failed", f"cannot write: {exc.strerror or exc}"))
        elif name == "syslog":
            checks.append(ChannelCheck(name, "sent", delivery.to_syslog(ctx, message)))
    failed = [c for c in checks if c.result == "failed"]
    with ctx.store().transaction() as tx:
        learn_channels(ctx, tx, notify_memory(tx.state), runs)
        tx.audit(AuditEvent(tx.command, "notify", "low", "notify_test",
                            "failed" if failed else "done",
                            "; ".join(f"{c.channel}: {c.result}" for c in checks),
                            {"channels": [asdict(c) for c in checks]}))
    return checks
