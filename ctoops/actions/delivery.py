"""One run's sending: the remote channels in order, inline waits, the run's time
budget; and the local fallbacks (mc-output, syslog) that always work.

Why a per-run object: the limits that keep a timer run short are per run. Once
a channel fails for a transient reason it is not tried again in this run (a down
Discord costs one timeout per channel, not one per message); the seconds spent
waiting out 429s are capped by `max_inline_wait_s` for the whole run; and no new
request starts after the run's send budget. What the run learned about each
channel is kept as a list of events, replayed onto the state in a short
transaction afterwards (policy/channel_health.py says what each one means).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.actions import discord
from ctoops.policy import channel_health as health

if TYPE_CHECKING:
    from ctoops.config import DiscordConfig
    from ctoops.context import Context

MAX_TRIES_PER_CHANNEL = 4  # per message: a few 429s waited out, one 5xx retried
SERVER_RETRY_S = 1.0  # one quick retry of a 5xx inside the run
LOGGER_TIMEOUT_S = 2.0
LINE_MAX = 2000  # characters of a syslog/stderr line
_SYSLOG_PRIO = {"none": "info", "low": "notice", "medium": "warning", "high": "crit"}


def send_budget_s(cfg: DiscordConfig) -> float:
    """No new request starts after this many seconds of one run's sending."""
    return 3 * cfg.timeout_s + cfg.max_inline_wait_s


@dataclass
class Sent:
    """What happened to one message on the remote channels."""

    via: str | None = None  # the channel that took it
    label: str = ""  # that channel, masked
    rejected: str = ""  # a channel refused this message itself (a 400): do not retry it
    errors: list[str] = field(default_factory=list)
    attempted: bool = False  # at least one request went out for it

    @property
    def detail(self) -> str:
        return "; ".join(self.errors)


class RemoteRun:
    """The remote channels (bot, webhook) as one run uses them."""

    def __init__(self, targets: list[discord.Target], channels: dict[str, Any],
                 cfg: DiscordConfig, wall_now: float, *, ignore_backoff: bool = False,
                 ignore_auth_stop: bool = False, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.targets = targets
        self.cfg = cfg
        self.recs = {t.name: health.current(channels.get(t.name), t.credential) for t in targets}
        self.ignore_backoff = ignore_backoff
        self.ignore_auth_stop = ignore_auth_stop
        self.sleep = sleep
        self.mono = monotonic
        self.start_mono = monotonic()
        self.wall0 = wall_now
        self.deadline = self.start_mono + send_budget_s(cfg)
        self.wait_left = cfg.max_inline_wait_s
        self.down: dict[str, str] = {}
        self.bucket_ready: dict[str, float] = {}
        self.events: list[tuple[str, str, float, str, float | None]] = []
        self.session: Any = None

    def wall(self) -> float:
        return self.wall0 + (self.mono() - self.start_mono)

    def any_open(self, urgent: bool = False) -> bool:
        """Could a message still be tried on some channel in this run?"""
        return any(self._usable(t, urgent)[0] for t in self.targets)

    def why_not(self, t: discord.Target, urgent: bool = False) -> str:
        """Why `t` will not be tried now ("" when it will)."""
        return self._usable(t, urgent)[1]

    def _usable(self, t: discord.Target, urgent: bool) -> tuple[bool, str]:
        if t.name in self.down:
            return False, self.down[t.name]
        if self.mono() > self.deadline:
            return False, f"{t.label}: not tried, this run's {send_budget_s(self.cfg):g} s used up"
        ok, why = health.usable(self.recs[t.name], self.wall(),
                                ignore_backoff=self.ignore_backoff or urgent,
                                ignore_auth_stop=self.ignore_auth_stop)
        return ok, "" if ok else f"{t.label}: {why}"

    def send(self, payload: dict[str, Any], urgent: bool = False) -> Sent:
        """Try each remote channel in order until one takes the message."""
        out = Sent()
        for t in self.targets:
            ok, why = self._usable(t, urgent)
            if not ok:
                out.errors.append(why)
                continue
            attempt = self._send_one(t, payload, out)
            if attempt is None:
                out.errors.append(self.down.get(t.name, f"{t.label}: not sent"))
                continue
            if attempt.outcome == health.SENT:
                out.via, out.label = t.name, t.label
                return out
            out.errors.append(attempt.detail)
            if attempt.outcome == health.REJECTED:
                out.rejected = attempt.detail
        return out

    def _record(self, t: discord.Target, outcome: str, detail: str,
                retry_after: float | None = None) -> None:
        now = self.wall()
        self.events.append((t.name, outcome, now, detail, retry_after))
        self.recs[t.name] = health.after(self.recs[t.name], outcome, now, detail, retry_after)

    def _wait(self, t: discord.Target, seconds: float, why: str) -> bool:
        """Wait inline if the run's wait budget and send budget allow; else the
        channel is done for this run (its messages stay in the outbox)."""
        if self._wait_quietly(seconds):
            return True
        self.down[t.name] = f"{t.label}: {why}; left in the outbox"
        return False

    def _send_one(self, t: discord.Target, payload: dict[str, Any], out: Sent
                  ) -> discord.Attempt | None:
        for tries in range(MAX_TRIES_PER_CHANNEL):
            gap = self.bucket_ready.get(t.name, 0.0) - self.mono()
            if gap > 0 and not self._wait(t, gap, f"rate-limit bucket empty for {gap:.1f} s"):
                self._record(t, health.RATE_LIMITED, self.down[t.name], gap)
                return None
            if self.mono() > self.deadline:
                self.down[t.name] = f"{t.label}: not tried, this run's send time is used up"
                return None
            if self.session is None:
                self.session = discord.open_session()
            out.attempted = True
            a = discord.post(self.session, t, payload, self.cfg.timeout_s)
            if a.remaining == 0 and a.reset_after_s:
                self.bucket_ready[t.name] = self.mono() + a.reset_after_s
            if a.outcome == health.RATE_LIMITED:
                wait = a.retry_after_s or 0.0
                for other in (self.targets if a.is_global else [t]):
                    self.bucket_ready[other.name] = self.mono() + wait
                if self._wait(t, wait, a.detail):
                    continue
                self._record(t, health.RATE_LIMITED, a.detail, wait)
                if a.is_global:
                    for other in self.targets:
                        self.down.setdefault(other.name, self.down[t.name])
                return a
            if a.outcome == health.TRANSIENT and a.status is not None and tries == 0 \
                    and self._wait_quietly(SERVER_RETRY_S):
                continue
            self._record(t, a.outcome, a.detail)
            if a.outcome in (health.TRANSIENT, health.AUTH):
                self.down[t.name] = a.detail
            return a
        self.down[t.name] = f"{t.label}: still refused after {MAX_TRIES_PER_CHANNEL} tries"
        return None

    def _wait_quietly(self, seconds: float) -> bool:
        """Sleep `seconds` if both budgets allow (True), else do nothing (False)."""
        if seconds <= self.wait_left and self.mono() + seconds <= self.deadline:
            self.sleep(seconds)
            self.wait_left -= seconds
            return True
        return False

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


# --- the local fallbacks ----------------------------------------------------------
def notice_line(message: dict[str, Any]) -> str:
    """One line for people and the journal."""
    n = message["notice"]
    kind = message.get("kind", "event")
    tag = n.get("risk", "low").upper() + ("" if kind in ("event", "firing") else f" {kind}")
    line = f"[{tag}] {n.get('subsystem')}/{n.get('kind')}: {n.get('title')}: {n.get('body')}"
    line = " ".join(line.split())  # one journal entry, not one per line of the body
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"


def mc_output_record(message: dict[str, Any]) -> dict[str, Any]:
    from ctoops.audit import iso

    created = float(message["created_ts"])
    return {"type": "notice", "ts": created, "at": iso(created),
            "message": message.get("kind", "event"), **message["notice"],
            "key": message.get("key")}


def to_syslog(ctx: Context, message: dict[str, Any]) -> str:
    """A stderr line (journald keeps it under a timer), plus `logger` when stderr
    is not the journal already (a run by hand over SSH) and logger exists."""
    line = notice_line(message)
    ctx.warn(f"notify: {line}")
    logger = shutil.which("logger")
    if logger and not os.environ.get("JOURNAL_STREAM"):
        from ctoops.redaction import scrub
        from ctoops.subproc import run_command

        prio = _SYSLOG_PRIO.get(message["notice"].get("risk", "low"), "notice")
        result = run_command([logger, "-t", "ctoops", "-p", f"user.{prio}", "--",
                              scrub(line)], LOGGER_TIMEOUT_S)
        if not result.ok:
            ctx.debug(f"notify: logger did not take the line ({result.error or result.returncode})")
            return "stderr"
        return "stderr+logger"
    return "stderr"


def local_fallback(ctx: Context, order: list[str], message: dict[str, Any]) -> tuple[str | None, str]:
    """The first local channel in `order` that takes the message: (channel, detail)."""
    from ctoops.actions.mc_output import write_mc_output

    problems: list[str] = []
    for name in order:
        if name == "mc_output":
            try:
                write_mc_output(ctx, mc_output_record(message))
                return name, ""
            except OSError as exc:
                problems.append(f"mc_output: cannot write ({exc.strerror or exc})")
        elif name == "syslog":
            return name, to_syslog(ctx, message)
    return None, "; ".join(problems) or "no local channel in notify.order"
