"""`ctoops notify test|flush|gateway-up`."""

from __future__ import annotations

import socket

from ctoops.actions.notify import Notice, dispatch
from ctoops.context import Context
from ctoops.errors import NotBuiltYet
from ctoops.report import Report


def test(ctx: Context) -> Report:
    raise NotBuiltYet("`notify test` is not built yet (issue 4)")


def flush(ctx: Context) -> Report:
    raise NotBuiltYet("`notify flush` is not built yet (issue 4)")


def gateway_up(ctx: Context) -> Report:
    """ExecStartPost= hook (R13.7): tell the channel the gateway is back. Never
    fails the unit: every problem becomes a note and exit 0."""
    try:
        deliveries = dispatch(ctx, [Notice(
            "gateway", "gateway_up", "low", "Gateway started",
            f"{ctx.config.gateway.unit} started on {socket.gethostname()}")])
        sent = [d.channel for d in deliveries if d.delivered]
        return Report("notify gateway-up", 0, "done", f"gateway-up notice via {sent or 'none'}")
    except Exception as exc:
        return Report("notify gateway-up", 0, "failed", "gateway-up notice not sent",
                      notes=[f"gateway-up notice failed: {exc}"])
