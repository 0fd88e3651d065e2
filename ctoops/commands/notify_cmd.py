"""`ctoops notify test|flush|gateway-up`."""

from __future__ import annotations

import socket
from dataclasses import asdict

from ctoops.actions.notify import Notice, dispatch
from ctoops.context import Context
from ctoops.errors import EXIT_DONE, EXIT_FAILED, EXIT_TEMPFAIL
from ctoops.report import Finding, Report

_RISK = {"sent": "none", "skipped": "low", "failed": "medium"}


def test(ctx: Context) -> Report:
    """Send a test message through every channel of `notify.order` and say, per
    channel, what happened. Exit 0 when every configured channel delivered, 1
    when one failed (or none is configured at all)."""
    from ctoops.actions import outbox
    from ctoops.actions.notify_check import send_test

    if ctx.dry_run:
        return Report("notify test", EXIT_DONE, "dry_run",
                      f"would send a test message via {', '.join(ctx.config.notify.order)}")
    checks = send_test(ctx)
    findings = [Finding("notify", c.channel, _RISK[c.result], f"{c.result}: {c.detail}",
                        {"result": c.result}) for c in checks]
    failed = [c for c in checks if c.result == "failed"]
    sent = [c.channel for c in checks if c.result == "sent"]
    data = {"channels": [asdict(c) for c in checks],
            "outbox_pending": len(outbox.pending(ctx.workspace.outbox_dir))}
    if failed or not sent:
        summary = (f"{len(failed)} channel(s) failed: " + "; ".join(c.detail for c in failed)
                   if failed else "no channel delivered: configure one (docs/notifications.md)")
        return Report("notify test", EXIT_FAILED, "failed", summary, findings, data=data)
    return Report("notify test", EXIT_DONE, "done", f"test message delivered via {', '.join(sent)}",
                  findings, data=data)


def flush(ctx: Context) -> Report:
    """Retry the outbox now, oldest first (also channels backing off after errors;
    a Discord rate limit and a stopped credential are still honoured). Exit 0 when
    the outbox is empty afterwards, 75 (try later) when messages remain."""
    from ctoops.actions import notify, outbox

    res = notify.flush(ctx, force=True)
    left = outbox.pending(ctx.workspace.outbox_dir)
    data = {"flush": res.as_dict(), "outbox_pending": len(left)}
    findings = [Finding("notify", "outbox", "medium", e) for e in res.errors]
    findings += [Finding("notify", "channel", "low", s) for s in res.skipped if left]
    if res.expired:
        findings.append(Finding("notify", "expired", "medium",
                                f"{len(res.expired)} message(s) older than "
                                f"{ctx.config.notify.outbox_max_age_s:g} s dropped (audited)"))
    done = f"{len(res.delivered)} delivered"
    if ctx.dry_run:
        return Report("notify flush", EXIT_DONE, "dry_run",
                      f"{len(left)} message(s) in the outbox; nothing sent", data=data)
    if left:
        why = res.errors[0] if res.errors else (res.skipped[0] if res.skipped else
                                                "another ctoops run is sending them")
        return Report("notify flush", EXIT_TEMPFAIL, "refused",
                      f"{done}, {len(left)} still in the outbox: {why}", findings, data=data)
    return Report("notify flush", EXIT_DONE, "done",
                  f"{done}; the outbox is empty" if res.delivered else "the outbox is empty",
                  findings, data=data)


def gateway_up(ctx: Context) -> Report:
    """ExecStartPost= hook (R13.7): tell the channel the gateway is back. Never
    fails the unit: every problem becomes a note and exit 0."""
    try:
        deliveries = dispatch(ctx, [Notice(
            "gateway", "gateway_up", "low", "Gateway started",
            f"{ctx.config.gateway.unit} started on {socket.gethostname()}")])
        sent = [str(d.channel) for d in deliveries if d.delivered]
        queued = " (kept in the outbox for Discord)" if any(d.queued for d in deliveries) else ""
        return Report("notify gateway-up", 0, "done",
                      f"gateway-up notice via {', '.join(sent) or 'none'}{queued}")
    except Exception as exc:
        return Report("notify gateway-up", 0, "failed", "gateway-up notice not sent",
                      notes=[f"gateway-up notice failed: {exc}"])
