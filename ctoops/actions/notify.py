"""Notifications (R10, R13.4, R13.7, R21, R22) and mc-output confirmations (R6).

The interface every command uses: build `Notice` values in the decide step and
hand them to `dispatch()` after the transaction (sending is slow work: never under
the lock). What happens behind it (notify_flow.py): dedup decides what to send
(policy/alerting.py), Discord gets it (bot API, then webhook, in `notify.order`),
and what Discord does not take goes at once to a local fallback (mc-output,
syslog) and stays in the durable outbox for a later run.

With no Discord channel configured, the local fallbacks are the delivery and the
outbox is not used. The next run of any command, and `ctoops notify flush`, send
what is left (cli.py looks with one listdir, so an empty outbox costs nothing).
`write_mc_output` (R6) lives in mc_output.py and is re-exported here.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.actions.mc_output import write_mc_output
from ctoops.actions.notify_flow import FlushResult, local_delivery, run_pass
from ctoops.audit import iso

if TYPE_CHECKING:
    from ctoops.context import Context
    from ctoops.state import Transaction

__all__ = ["Delivery", "FlushResult", "Notice", "dispatch", "flush", "write_mc_output"]
MAX_TEXT = 16000  # characters of a title or body kept in a message


@dataclass(frozen=True)
class Notice:
    """One message. A *condition* (resource pressure, a storm) is deduplicated and
    gets a "resolved" when `active` turns false; an *event* (a restart coming, the
    gateway back, an approval needed) is always sent. `fields` named reason,
    action and outcome fill the embed's standard fields; others are added after.
    `urgent` tries Discord even while it is backing off after errors."""

    subsystem: str
    kind: str
    risk: str
    title: str
    body: str
    condition: bool = False
    active: bool = True
    urgent: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.subsystem}:{self.kind}"


@dataclass(frozen=True)
class Delivery:
    key: str
    delivered: bool
    channel: str | None
    detail: str = ""
    queued: bool = False  # kept in the outbox: a later run delivers it to Discord


def dispatch(ctx: Context, notices: list[Notice]) -> list[Delivery]:
    """Deliver each notice (one Delivery per notice, in order). Call it after your
    transaction, never inside one."""
    if ctx.dry_run:
        return [Delivery(n.key, False, None, "dry-run: not sent") for n in notices]
    from ctoops.errors import StateUnavailable

    try:
        return _dispatch(ctx, notices)
    except (StateUnavailable, OSError) as exc:  # no state or no outbox: never lose the notice
        ctx.warn(f"notify: {exc}; the notices go to the local channels only, without dedup")
        out = []
        for n in notices:
            channel, detail = local_delivery(ctx, new_message(n, "event", None, ctx.clock.now()))
            out.append(Delivery(n.key, channel is not None, channel, detail))
        return out


def flush(ctx: Context, force: bool = False) -> FlushResult:
    """Send what is in the outbox, oldest first. `force` (an operator's `notify
    flush`) also tries channels that are backing off after errors; a rate limit
    Discord asked for and a stopped credential are honoured anyway."""
    if ctx.dry_run:
        from ctoops.actions import outbox

        return FlushResult(kept=outbox.pending(ctx.workspace.outbox_dir))
    result, _ = run_pass(ctx, None, force)
    return result


def flush_quietly(ctx: Context) -> None:
    """The every-run hook (cli.py): never changes the command's outcome; says on
    stderr what is still waiting when it tried and failed."""
    try:
        res = flush(ctx)
    except Exception as exc:  # a hook after the command: report, never fail the command
        ctx.warn(f"notify: the outbox was not flushed: {exc}")
        return
    if res.delivered:
        ctx.debug(f"notify: delivered {len(res.delivered)} queued message(s)")
    if res.kept:
        say = ctx.warn if res.tried else ctx.debug
        say(f"notify: {len(res.kept)} message(s) wait in the outbox"
            + (f": {res.errors[0]}" if res.errors else ""))


def new_message(n: Notice, kind: str, first_ts: float | None, now: float) -> dict[str, Any]:
    """What the outbox keeps: the notice (long text clipped, so a file stays small;
    Discord shows far less anyway), how it was decided, and when it was written."""
    from ctoops.actions.discord_payload import cut

    notice = asdict(n)
    for key in ("title", "body"):
        notice[key] = cut(str(notice[key]), MAX_TEXT)
    notice["fields"] = {cut(str(k), 256): cut(str(v), MAX_TEXT // 8)
                        for k, v in list(notice["fields"].items())[:50]}
    return {"v": 1, "created_ts": now, "created_at": iso(now), "kind": kind,
            "first_ts": first_ts, "key": n.key, "host": socket.gethostname(),
            "notice": notice}


def _dispatch(ctx: Context, notices: list[Notice]) -> list[Delivery]:
    from ctoops.policy import alerting

    if not notices:
        flush(ctx)
        return []
    decided: list[tuple[Notice, Any]] = []

    def decide(tx: Transaction) -> list[dict[str, Any]]:
        obs = [alerting.Observation(n.key, n.risk, n.title, n.condition, n.active)
               for n in notices]
        decisions, tx.state["alerts"] = alerting.decide(
            obs, tx.state["alerts"], ctx.config.notify.repeat_interval_s, tx.now)
        decided.extend(zip(notices, decisions, strict=True))
        return [new_message(n, d.kind, d.first_ts, tx.now) for n, d in decided if d.send]

    result, names = run_pass(ctx, decide, False)
    out: list[Delivery] = []
    sent = iter(names)
    for n, d in decided:
        if not d.send:
            out.append(Delivery(n.key, False, None, f"{d.kind}: {d.reason}"))
            continue
        name, local = next(sent)
        out.append(_delivery(n.key, name, local, result))
    return out


def _delivery(key: str, name: str | None, local: tuple[str | None, str] | None,
              res: FlushResult) -> Delivery:
    if local is not None:  # no Discord channel configured: the local one is the delivery
        return Delivery(key, local[0] is not None, local[0], local[1])
    via = dict(res.delivered).get(str(name))
    if via:
        return Delivery(key, True, via)
    if name in res.rejected:
        return Delivery(key, False, None, "rejected by Discord: " + "; ".join(res.errors))
    fallback = res.fallbacks.get(str(name))
    detail = "; ".join(res.errors) or "not sent yet"
    return Delivery(key, fallback is not None, fallback,
                    f"kept in the outbox for Discord ({detail})", queued=True)
