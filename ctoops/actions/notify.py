"""Notifications (R10, R13.4, R13.7, R21, R22) and mc-output confirmations (R6).

The interface every command uses: build `Notice` values in the decide step and
hand them to `dispatch()` after the transaction (sending is slow work: never under
the lock). Behind it:

1. a short transaction decides what to send (policy/alerting.py: dedup,
   reminders, "resolved"), writes each message to the durable outbox when a
   Discord channel is configured, expires messages older than
   `notify.outbox_max_age_s` (audited), and claims the queue oldest first;
2. without the lock, the claimed messages go to Discord (bot API, then webhook,
   in `notify.order`); one that no Discord channel takes goes at once to the first
   local fallback (mc-output, syslog) and stays in the outbox;
3. a second short transaction deletes what was delivered and records what each
   channel taught (rate limits, back-off, a refused credential).

With no Discord channel configured, the local fallbacks are the delivery and the
outbox is not used. The next run of any command, and `ctoops notify flush`, send
what is left (cli.py looks with one listdir, so an empty outbox costs nothing).
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.actions.mc_output import write_mc_output
from ctoops.audit import AuditEvent, iso

if TYPE_CHECKING:
    from ctoops.actions.delivery import RemoteRun, Sent
    from ctoops.context import Context
    from ctoops.state import Transaction

__all__ = ["Delivery", "FlushResult", "Notice", "dispatch", "flush", "write_mc_output"]
CLAIM_LIMIT = 200  # messages one run takes from the outbox (the send budget ends it sooner)
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


def dispatch(ctx: Context, notices: list[Notice]) -> list[Delivery]:
    """Deliver each notice (one Delivery per notice, in order). Call it after your
    transaction, never inside one."""
    if ctx.dry_run:
        return [Delivery(n.key, False, None, "dry-run: not sent") for n in notices]
    from ctoops.errors import StateUnavailable

    try:
        return _dispatch(ctx, notices)
    except StateUnavailable as exc:
        ctx.warn(f"notify: {exc}; the notices go to the local channels only, without dedup")
        out = []
        for n in notices:
            channel, detail = _local(ctx, new_message(n, "event", None, ctx.clock.now()))
            out.append(Delivery(n.key, channel is not None, channel, detail))
        return out


def flush(ctx: Context, force: bool = False) -> FlushResult:
    """Send what is in the outbox, oldest first. `force` (an operator's `notify
    flush`) also tries channels that are backing off after errors; a rate limit
    Discord asked for and a stopped credential are honoured anyway."""
    if ctx.dry_run:
        from ctoops.actions import outbox

        return FlushResult(kept=outbox.pending(ctx.workspace.outbox_dir))
    result, _ = _enqueue_and_send(ctx, [], force)
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


# --- the pipeline ----------------------------------------------------------------
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


def notify_memory(state: dict[str, Any]) -> dict[str, Any]:
    mem = state["commands"].setdefault("notify", {})
    mem.setdefault("seq", 0)
    mem.setdefault("channels", {})
    mem.setdefault("outbox", {})
    return mem


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

    result, names = _enqueue_and_send(ctx, decide, False)
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


def _enqueue_and_send(ctx: Context, decide: Any, force: bool
                      ) -> tuple[FlushResult, list[tuple[str | None, tuple[str | None, str] | None]]]:
    """The three steps of the module docstring. `decide(tx)` (or a plain list)
    gives the new messages; returns the pass's result and, per new message,
    (outbox name, None) or (None, local delivery) when no Discord is configured."""
    from ctoops.actions import delivery, discord, outbox

    cfg = ctx.config.notify
    folder = ctx.workspace.outbox_dir
    chosen = discord.targets(cfg)
    remote = [t for t in chosen if isinstance(t, discord.Target)]
    res = FlushResult(skipped=[s.reason for s in chosen if isinstance(s, discord.Skipped)])
    names: list[tuple[str | None, tuple[str | None, str] | None]] = []
    if not callable(decide) and not outbox.pending(folder):
        return res, names  # nothing new, nothing queued: no lock, no imports
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with ctx.store().transaction() as tx:
        book = notify_memory(tx.state)
        new = decide(tx) if callable(decide) else list(decide)
        if remote and new:
            seq = outbox.next_seq(folder, int(book["seq"]))
            for message in new:
                names.append((outbox.put(folder, seq, message), None))
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
        names = [(None, _local(ctx, m)) for m in new]
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
            channel, _ = _local(ctx, message)
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


def _local(ctx: Context, message: dict[str, Any]) -> tuple[str | None, str]:
    from ctoops.actions.delivery import local_fallback

    return local_fallback(ctx, ctx.config.notify.order, message)

