"""The notification pipeline behind `dispatch()` and `flush()` (notify.py).

One pass is three steps, and only the middle one is slow:

1. a short transaction runs the caller's decision (dedup), writes each new
   message to the outbox when a Discord channel is configured, expires messages
   older than `notify.outbox_max_age_s` (audited), and claims the queue oldest
   first (a claim is a lease in the state: two overlapping runs never send the
   same message, and a crashed run's claim runs out);
2. without the lock, the claimed messages go to Discord (delivery.RemoteRun);
   one that no Discord channel takes goes at once to the first local fallback
   (mc-output, syslog) and stays queued;
3. a second short transaction deletes what was delivered, books what was not,
   and records what each channel taught (policy/channel_health.py).

While Discord is backing off and every queued message already has its local
copy, the every-run hook stops after a lockless read of the state: no lock, no
state write.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.audit import AuditEvent, iso

if TYPE_CHECKING:
    from ctoops.actions.delivery import RemoteRun, Sent
    from ctoops.context import Context
    from ctoops.state import Transaction

CLAIM_LIMIT = 200  # messages one run takes from the outbox (the send budget ends it sooner)
# Per new message: (outbox name, None), or (None, (local channel, detail)) when no
# Discord channel is configured and the local fallback was the delivery.
Named = tuple[str | None, tuple[str | None, str] | None]
Decide = Callable[["Transaction"], list[dict[str, Any]]]


@dataclass
class FlushResult:
    """What one pass over the outbox did (names are outbox file names)."""

    delivered: list[tuple[str, str]] = field(default_factory=list)  # (name, channel)
    kept: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    busy: int = 0  # messages another live run is sending right now
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # channels not configured
    tried: bool = False  # at least one request went out
    fallbacks: dict[str, str] = field(default_factory=dict)  # name -> local channel

    def as_dict(self) -> dict[str, Any]:
        from ctoops.redaction import scrub_obj

        return scrub_obj({"delivered": len(self.delivered), "kept": len(self.kept),
                          "expired": len(self.expired), "rejected": len(self.rejected),
                          "quarantined": self.quarantined, "busy": self.busy,
                          "errors": self.errors, "skipped_channels": self.skipped})


def notify_memory(state: dict[str, Any]) -> dict[str, Any]:
    """This module's memory in the state: the outbox sequence counter, each
    channel's health, each queued message's bookkeeping."""
    mem = state["commands"].setdefault("notify", {})
    mem.setdefault("seq", 0)
    mem.setdefault("channels", {})
    mem.setdefault("outbox", {})
    return mem


def run_pass(ctx: Context, decide: Decide | None, force: bool
             ) -> tuple[FlushResult, list[Named]]:
    """The three steps of the module docstring. `decide(tx)`, run under the lock,
    gives the new messages (None: only the outbox is flushed)."""
    from ctoops.actions import delivery, discord, outbox

    cfg = ctx.config.notify
    folder = ctx.workspace.outbox_dir
    chosen = discord.targets(cfg)
    remote = [t for t in chosen if isinstance(t, discord.Target)]
    res = FlushResult(skipped=[s.reason for s in chosen if isinstance(s, discord.Skipped)])
    names: list[Named] = []
    if decide is None:
        queued = outbox.pending(folder)
        if not queued:
            return res, names  # nothing new, nothing queued: no lock
        if not force and remote and (waits := _all_waiting(ctx, remote, queued)):
            res.kept, res.errors = queued, waits
            return res, names  # Discord is backing off: no lock, no state write
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with ctx.store().transaction() as tx:
        book = notify_memory(tx.state)
        new = decide(tx) if decide is not None else []
        outbox.remove_stale_temps(folder)
        if remote and new:
            seq = outbox.next_seq(folder, int(book["seq"]))
            for message in new:
                name = outbox.put(folder, seq, message)
                names.append((name, None))
                book["outbox"][name] = {"attempts": 0, "fallback_done": False,
                                        "urgent": bool(message["notice"].get("urgent"))}
                book["seq"], seq = seq, seq + 1
        res.expired = _expire(tx, folder, book, cfg.outbox_max_age_s)
        claimed = outbox.claim(folder, book["outbox"], tx.now,
                               delivery.send_budget_s(cfg.discord) + 60, CLAIM_LIMIT, owner,
                               must={n for n, _ in names}) if remote else []
        res.busy = len(outbox.pending(folder)) - len(claimed) if remote else 0
        done_before = {n for n in claimed if book["outbox"].get(n, {}).get("fallback_done")}
        channels = dict(book["channels"])
        now = tx.now
    if not remote:
        names = [(None, local_delivery(ctx, m)) for m in new]
        res.kept = outbox.pending(folder)
        return res, names
    if not claimed:
        return res, names
    run = delivery.RemoteRun(remote, channels, cfg.discord, now, ignore_backoff=force)
    try:
        sent = _send(ctx, run, claimed, done_before, res)
    finally:
        run.close()
    _settle(ctx, run, sent, res)
    return res, names


def _all_waiting(ctx: Context, remote: list[Any], queued: list[str]) -> list[str]:
    """A lockless look at the state (a consistent snapshot) for the every-run hook:
    when no Discord channel may be tried now and every queued message already has
    its local copy and is not due to expire, the run need not take the lock. Then
    the reasons each channel waits; else [] (go on with the full pass)."""
    from ctoops.actions import outbox
    from ctoops.policy import channel_health as health

    try:
        state = ctx.store().read()
    except (OSError, ValueError):
        return []
    book = state["commands"].get("notify", {})
    now = max(ctx.clock.now(), float(state.get("latest_ts", 0.0)))
    reasons = []
    for t in remote:
        ok, why = health.usable(health.current(book.get("channels", {}).get(t.name),
                                               t.credential), now)
        if ok:
            return []
        reasons.append(f"{t.label}: {why}")
    max_age = ctx.config.notify.outbox_max_age_s
    for name in queued:
        rec = book.get("outbox", {}).get(name, {})
        parsed = outbox.parse_name(name)
        if not rec.get("fallback_done") or rec.get("urgent") or parsed is None \
                or now - parsed[1] > max_age:
            return []
    return reasons


def _send(ctx: Context, run: RemoteRun, claimed: list[str], done_before: set[str],
          res: FlushResult) -> dict[str, tuple[Sent | None, bool]]:
    """Outside the lock: each claimed message to Discord, else to a local fallback."""
    from ctoops.actions import discord_payload, outbox
    from ctoops.actions.delivery import Sent

    folder = ctx.workspace.outbox_dir
    out: dict[str, tuple[Sent | None, bool]] = {}
    for name in claimed:
        if not run.any_open() and name in done_before:
            out[name] = (None, False)  # nothing to try, its fallback copy exists
            res.errors.extend(w for t in run.targets
                              if (w := run.why_not(t)) and w not in res.errors)
            continue
        try:
            message = outbox.read(folder, name)
        except FileNotFoundError:
            continue  # delivered and removed by another run meanwhile
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            res.quarantined.append(name)
            ctx.warn(f"notify: outbox message {name} is unreadable ({exc}); moving it aside")
            continue
        urgent = bool(message["notice"].get("urgent"))
        if run.any_open(urgent):
            res.tried = True
            payload = discord_payload.build(message, str(message.get("host", "")), run.wall())
            sent = run.send(payload, urgent)
        else:
            sent = Sent(errors=[w for t in run.targets if (w := run.why_not(t, urgent))])
        fell_back = False
        if sent.via is None and name not in done_before:
            channel, _ = local_delivery(ctx, message)
            fell_back = channel is not None
            if channel:
                res.fallbacks[name] = channel
        out[name] = (sent, fell_back)
    return out


def _settle(ctx: Context, run: RemoteRun, sent: dict[str, tuple[Sent | None, bool]],
            res: FlushResult) -> None:
    """Second transaction: drop what was delivered, book what was not, and keep
    what each channel taught (policy/channel_health.py)."""
    from ctoops.actions import outbox

    folder = ctx.workspace.outbox_dir
    with ctx.store().transaction() as tx:
        book = notify_memory(tx.state)
        learn_channels(ctx, tx, book, [run])
        for name in res.quarantined:
            aside = outbox.quarantine(folder, name, tx.now)
            tx.audit(AuditEvent(tx.command, "notify", "medium", "notify_outbox", "quarantined",
                                f"unreadable outbox message moved aside as {aside}",
                                {"name": name}))
        for name, (result, fell_back) in sent.items():
            entry = book["outbox"].setdefault(name, {"attempts": 0, "fallback_done": False})
            if result is not None and result.via:
                outbox.remove(folder, name)
                book["outbox"].pop(name, None)
                res.delivered.append((name, result.via))
            elif result is not None and result.rejected:
                outbox.remove(folder, name)
                book["outbox"].pop(name, None)
                res.rejected.append(name)
                tx.audit(AuditEvent(tx.command, "notify", "medium", "notify_discord", "failed",
                                    f"Discord refused message {name}: {result.rejected}",
                                    {"name": name}))
            else:
                tried = result is not None and result.attempted
                entry.update(attempts=int(entry.get("attempts", 0)) + (1 if tried else 0),
                             fallback_done=bool(entry.get("fallback_done")) or fell_back,
                             claimed_until=0.0, claimed_by=None)
                if result is not None and result.errors:
                    entry.update(last_error=result.detail, last_try_ts=tx.now)
                res.kept.append(name)
            if result is not None:
                res.errors.extend(e for e in result.errors if e not in res.errors)
        outbox.prune_book(folder, book["outbox"])


def learn_channels(ctx: Context, tx: Transaction, book: dict[str, Any], runs: list[RemoteRun]) -> None:
    """Replay what the runs saw of each channel onto the state (under the lock)."""
    from ctoops.policy import channel_health as health

    for run in runs:
        targets = {t.name: t for t in run.targets}
        for channel, outcome, ts, detail, retry in run.events:
            rec = health.after(health.current(book["channels"].get(channel),
                                              targets[channel].credential),
                               outcome, ts, detail, retry)
            book["channels"][channel] = rec
            if outcome == health.AUTH and rec["auth_failures"] == health.AUTH_STOP_AFTER:
                message = (f"{targets[channel].label} refused {health.AUTH_STOP_AFTER} times in "
                           "a row: the credential is wrong; the channel is stopped until it "
                           "changes (fix it, then `ctoops notify test`)")
                ctx.warn(f"notify: {message}")
                tx.audit(AuditEvent(tx.command, "notify", "high", "notify_channel_stopped",
                                    "failed", message, {"channel": channel, "last": detail}))


def _expire(tx: Transaction, folder: Any, book: dict[str, Any], max_age_s: float) -> list[str]:
    """Messages older than `max_age_s` leave the outbox, each with an audit line."""
    from ctoops.actions import outbox

    gone: list[str] = []
    for name in outbox.pending(folder):
        parsed = outbox.parse_name(name)
        if parsed is None or tx.now - parsed[1] <= max_age_s:
            continue
        try:
            notice = outbox.read(folder, name)["notice"]
        except (OSError, ValueError, UnicodeDecodeError):
            notice = {}
        info = book["outbox"].pop(name, {})
        outbox.remove(folder, name)
        gone.append(name)
        tx.audit(AuditEvent(
            tx.command, str(notice.get("subsystem", "notify")), str(notice.get("risk", "low")),
            "notify_discord", "expired",
            f"not delivered to Discord within {max_age_s:g} s, dropped from the outbox: "
            f"{notice.get('title', name)}" + (f" (last error: {info['last_error']})"
                                              if info.get("last_error") else ""),
            {"name": name, "created_at": iso(parsed[1]), "attempts": info.get("attempts", 0),
             "key": f"{notice.get('subsystem')}:{notice.get('kind')}"}))
    return gone


def local_delivery(ctx: Context, message: dict[str, Any]) -> tuple[str | None, str]:
    from ctoops.actions.delivery import local_fallback

    return local_fallback(ctx, ctx.config.notify.order, message)
