"""The orchestration state (R27): transactions, quarantine; the schema and its
migrations are in state_schema.py (re-exported here).

All coordination between overlapping runs lives here (R29, R30): every
read-modify-write happens inside the workspace lock, and the lock is held for
milliseconds. A slow action is two short transactions (DESIGN.md, "Overlapping
runs"): `request()` checks the guardrails, spends the budget and writes an intent
with a lease; the caller acts without the lock; `complete()` writes the outcome.
An intent whose lease expired is recorded as outcome_unknown by the next run and
keeps its slot: no crash buys an extra restart.

A state file that does not parse is moved aside, the run says so on stderr and in
the audit trail, and the workspace enters safe mode: destructive actions are held
for a person until an operator leaves safe mode.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.clock import Clock, iso, monotonic_now
from ctoops.config import GuardrailsConfig
from ctoops.errors import StateUnavailable
from ctoops.policy.guardrails import (
    ALLOWED,
    NEEDS_APPROVAL,
    ActionRequest,
    HistoryEvent,
    Verdict,
    admit,
    history_horizon_s,
)
from ctoops.state_schema import SCHEMA_VERSION as SCHEMA_VERSION  # re-exported
from ctoops.state_schema import empty_state, parse_state
from ctoops.workspace import Workspace, atomic_write, workspace_lock

if TYPE_CHECKING:
    from ctoops.audit import AuditEvent

MAX_DECISIONS = 500
MAX_REVIEW_EVENTS = 500
LOCK_TIMEOUT_S = 30.0
# The lock is held for milliseconds, so a waiter retries on that scale too. With
# filelock's default (50 ms), 8 processes racing for a lock each holds 5 ms got
# it last after ~310-360 ms; with 2 ms, after ~65 ms (filelock polls, it does
# not block in flock).
LOCK_POLL_S = 0.002


def audit_event(*args: Any, **kwargs: Any) -> AuditEvent:
    """`AuditEvent(...)`, with the audit module loaded only by a run that has
    something to record: most every-minute runs record nothing."""
    from ctoops.audit import AuditEvent

    return AuditEvent(*args, **kwargs)


@dataclass
class Transaction:
    """The state as read under the lock, plus what this run will record with it."""

    state: dict[str, Any]
    now: float
    command: str
    guardrails: GuardrailsConfig
    events: list[AuditEvent] = field(default_factory=list)
    quarantined: str | None = None

    # --- recording -------------------------------------------------------------
    def audit(self, event: AuditEvent) -> None:
        self.events.append(event)

    def decision(self, summary: str, risk: str, details: dict[str, Any] | None = None) -> None:
        """R27: one entry of the decision trail."""
        trail = self.state["decisions"]
        trail.append({"ts": self.now, "at": iso(self.now), "command": self.command,
                      "risk": risk, "summary": summary, "details": details or {}})
        del trail[:-MAX_DECISIONS]

    def open_review(self, kind: str, subsystem: str, summary: str,
                    details: dict[str, Any] | None = None, key: str | None = None) -> str:
        """R11/R21: a review event; with `key`, an open one with the same key is reused."""
        events = self.state["review_events"]
        if key is not None:
            for ev in events:
                if ev.get("key") == key and ev.get("status") == "open":
                    return str(ev["id"])
        review_id = f"rev-{uuid.uuid4().hex[:12]}"
        events.append({"id": review_id, "key": key, "ts": self.now, "at": iso(self.now),
                       "kind": kind, "subsystem": subsystem, "summary": summary,
                       "details": details or {}, "status": "open"})
        del events[:-MAX_REVIEW_EVENTS]
        return review_id

    def close_review(self, key: str, note: str) -> bool:
        closed = False
        for ev in self.state["review_events"]:
            if ev.get("key") == key and ev.get("status") == "open":
                ev.update(status="closed", closed_ts=self.now, closed_note=note)
                closed = True
        return closed

    # --- guarded actions ---------------------------------------------------------
    def history(self) -> list[HistoryEvent]:
        return [HistoryEvent.from_dict(e) for e in self.state["history"]]

    def request(self, req: ActionRequest, args: dict[str, Any] | None = None,
                lease_s: float | None = None, dry_run: bool = False) -> GuardedOutcome:
        """Judge `req`; when allowed, spend its slot and (with `lease_s`) write an
        intent; when held, write a needs_approval record. Always audited."""
        verdict = admit(req, self.history(), self.guardrails, self.now,
                        safe_mode=self.state["safe_mode"] is not None)
        args = args or {}
        out = GuardedOutcome(verdict)
        details = {"verdict": verdict.as_dict(), "args": args}
        if dry_run:
            self.audit(audit_event(self.command, req.subsystem, req.risk, req.action, "dry_run",
                                   req.reason, details, req.auto))
            return out
        if verdict.outcome == ALLOWED:
            event_id = f"act-{uuid.uuid4().hex[:12]}"
            self.state["history"].append({
                "id": event_id, "ts": self.now, "action": req.action,
                "subsystem": req.subsystem, "risk": req.risk, "critical": req.critical,
                "restart": req.restart, "auto": req.auto, "outcome": "in_progress",
                "approved": req.approved, "override_budget": req.override_budget})
            out.event_id = event_id
            if lease_s is not None:
                self.state["intents"][event_id] = {
                    "id": event_id, "action": req.action, "subsystem": req.subsystem,
                    "command": self.command, "reason": req.reason, "args": args,
                    "reserved_ts": self.now, "lease_until": self.now + lease_s,
                    "pid": os.getpid()}
            outcome = "reserved" if lease_s is not None else "allowed"
            details["event_id"] = event_id
        elif verdict.outcome == NEEDS_APPROVAL:
            approval_id = self._approval_record(req, args, verdict)
            out.approval_id = approval_id
            outcome = "needs_approval"
            details["approval_id"] = approval_id
        else:
            outcome = "refused"
        self.audit(audit_event(self.command, req.subsystem, req.risk, req.action, outcome,
                               req.reason if verdict.allowed else
                               f"{req.reason} -- {verdict.explanation}", details, req.auto))
        return out

    def hold(self, req: ActionRequest, args: dict[str, Any] | None, why: str) -> GuardedOutcome:
        """Hold `req` for a person without running it and without spending budget:
        the same needs_approval record request() writes, for an action that is a
        person's call by design (R24: escalating a zombie incident). Audited."""
        args = args or {}
        verdict = Verdict(NEEDS_APPROVAL, "escalation", explanation=why)
        approval_id = self._approval_record(req, args, verdict)
        self.audit(audit_event(self.command, req.subsystem, req.risk, req.action, NEEDS_APPROVAL,
                              f"{req.reason} -- {why}", {"verdict": verdict.as_dict(),
                                                        "args": args, "approval_id": approval_id},
                              req.auto))
        return GuardedOutcome(verdict, approval_id=approval_id)

    def _approval_record(self, req: ActionRequest, args: dict[str, Any], verdict: Verdict) -> str:
        """The pending record a person approves or denies (`ctoops approvals`)."""
        approval_id = f"apr-{uuid.uuid4().hex[:8]}"
        self.state["approvals"][approval_id] = {
            "id": approval_id, "action": req.action, "subsystem": req.subsystem,
            "risk": req.risk, "reason": req.reason, "args": args, "auto": req.auto,
            "requested_by": _who(), "requested_ts": self.now,
            "requested_at": iso(self.now), "command": self.command,
            "held_by": verdict.limit, "status": "pending"}
        return approval_id

    def complete(self, event_id: str, outcome: str, details: dict[str, Any] | None = None,
                 reason: str = "") -> None:
        """Second phase: the outcome of an allowed action (done / failed / ...)."""
        intent = self.state["intents"].pop(event_id, None)
        for e in self.state["history"]:
            if e.get("id") == event_id:
                e["outcome"] = outcome
                e["completed_ts"] = self.now
                subsystem, action, risk = e["subsystem"], e["action"], e["risk"]
                auto = bool(e.get("auto"))
                break
        else:
            subsystem, action, risk, auto = "unknown", "unknown", "high", False
        self.audit(audit_event(self.command, subsystem, risk, action, outcome,
                               reason or (intent or {}).get("reason", ""),
                               {"event_id": event_id, **(details or {})}, auto))

    def sweep(self) -> None:
        """Expired intents become outcome_unknown (their slot stays spent); history
        older than every window is dropped."""
        for event_id, intent in list(self.state["intents"].items()):
            if float(intent.get("lease_until", 0)) < self.now:
                self.complete(event_id, "outcome_unknown", {
                    "lease_until": intent.get("lease_until"), "pid": intent.get("pid")},
                    reason=f"{intent.get('action')} started at "
                           f"{iso(float(intent.get('reserved_ts', 0)))} never reported back; "
                           "it still counts against the budget")
        horizon = self.now - 2 * history_horizon_s(self.guardrails)
        self.state["history"] = [e for e in self.state["history"]
                                 if float(e.get("ts", 0)) > horizon
                                 or e.get("id") in self.state["intents"]]


def _who() -> str:
    from ctoops.audit import _user

    return os.environ.get("SUDO_USER") or _user()


@dataclass
class GuardedOutcome:
    verdict: Verdict
    event_id: str | None = None
    approval_id: str | None = None


class StateStore:
    """The state file of one workspace, read and written only through here."""

    def __init__(self, ws: Workspace, clock: Clock, command: str,
                 guardrails: GuardrailsConfig, warn: Callable[[str], None]) -> None:
        self.ws = ws
        self.clock = clock
        self.command = command
        self.guardrails = guardrails
        self.warn = warn

    def read(self) -> dict[str, Any]:
        """A consistent snapshot without the lock (the file is only ever replaced
        whole). Raises ValueError/OSError when it cannot be read: callers that
        must fail closed do so."""
        try:
            raw = self.ws.state_file.read_bytes()
        except FileNotFoundError:
            return empty_state()
        return parse_state(raw)

    def _load_locked(self, now: float) -> tuple[dict[str, Any], str | None, list[AuditEvent]]:
        path = self.ws.state_file
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # a writer killed mid-write; we hold the lock
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return empty_state(), None, []
        except OSError as exc:
            raise StateUnavailable(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            return parse_state(raw), None, []
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            quarantine = path.with_name(f"{path.name}.corrupt-{int(now * 1000)}")
            os.replace(path, quarantine)
            message = (f"STATE CORRUPT: {path} could not be parsed ({exc}); moved to "
                       f"{quarantine.name}. Safe mode is on: destructive actions are held "
                       "for approval until an operator runs `ctoops safe-mode leave "
                       "--reason ...` after checking the quarantined file.")
            self.warn(message)
            state = empty_state()
            state["safe_mode"] = {"since": now, "at": iso(now), "reason": str(exc)[:300],
                                  "quarantined": quarantine.name}
            event = audit_event(self.command, "state", "high", "quarantine_state",
                                "quarantined", message, {"quarantined": quarantine.name})
            return state, quarantine.name, [event]

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock, read, yield, then (on normal exit only) audit and write atomically."""
        from filelock import Timeout

        self.ws.ensure_dirs()
        lock = workspace_lock(self.ws, LOCK_TIMEOUT_S)
        try:
            lock.acquire(poll_interval=LOCK_POLL_S)
        except Timeout as exc:
            raise StateUnavailable(
                f"the workspace lock {self.ws.lock_file} was busy for {LOCK_TIMEOUT_S:g} s") from exc
        except OSError as exc:
            raise StateUnavailable(f"cannot take the lock {self.ws.lock_file}: {exc}") from exc
        try:
            wall = self.clock.now()
            state, quarantined, events = self._load_locked(wall)
            now = monotonic_now(wall, float(state.get("latest_ts", 0.0)))
            if quarantined:
                # Make safe mode durable at once: a crash later in this run must not
                # leave a missing state file that reads as "nothing happened".
                self._write(state, events, now)
                events = []
            tx = Transaction(state, now, self.command, self.guardrails, events, quarantined)
            tx.sweep()
            yield tx
            self._write(state, tx.events, now)
        finally:
            lock.release()

    def _write(self, state: dict[str, Any], events: list[AuditEvent], now: float) -> None:
        state["latest_ts"] = max(float(state["latest_ts"]), now)
        payload = json.dumps(state, ensure_ascii=False, separators=(",", ":"),
                             default=str).encode("utf-8")
        try:
            if events:
                from ctoops.audit import append_events

                append_events(self.ws, events, now)
            atomic_write(self.ws.state_file, payload)
        except OSError as exc:
            raise StateUnavailable(
                f"cannot write the state in {self.ws.memory_dir}: {exc.strerror or exc}; "
                "the state file was left as it was") from exc
