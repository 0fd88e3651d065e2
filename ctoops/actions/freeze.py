"""The chain freeze's effector (R20, R21): write or lift a freeze record, keep the
review queue in step, and build the messages that go out after the transaction.

Called inside a transaction (the state and the audit lines are written together
when it ends); nothing here is slow. `ctoops gate chain [--job ID]` reads the
record this writes: scope `global` or `job:<id>`, with `since`, `until`, `reason`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctoops.actions.notify import Notice
from ctoops.audit import AuditEvent, append_lesson, iso
from ctoops.policy.storm import SET_BY

if TYPE_CHECKING:
    from ctoops.state import Transaction
    from ctoops.workspace import Workspace

ACTION = "chain_freeze"
SUBSYSTEM = "chain"


def review_key(scope: str) -> str:
    return f"retry-storm:{scope}"


def _notice_kind(scope: str) -> str:
    return f"retry_storm:{scope}"


def _scope_words(scope: str) -> str:
    return "all chained execution" if scope == "global" else f"chains of cron job {scope[4:]}"


def apply_freeze(tx: Transaction, args: dict[str, Any], event_id: str | None,
                 approval_id: str | None, repeat_interval_s: float) -> tuple[dict[str, Any],
                                                                           list[Notice]]:
    """Write the freeze record for an allowed freeze (or re-freeze) and open its
    review event. The alert goes out for a new freeze, and for a re-freeze only
    when the last one is older than the reminder interval (no repeated alerts)."""
    now = tx.now
    scope = str(args["scope"])
    duration = float(args["duration_s"])
    until = now + duration
    details = {k: args.get(k) for k in ("trigger", "key", "template", "sample", "count", "job",
                                         "errors", "level")}
    review_id = tx.open_review("retry_storm", SUBSYSTEM, f"{args['reason']} (until {iso(until)})",
                               {**details, "until": until}, key=review_key(scope))
    last_alert = args.get("alerted_ts")
    send = last_alert is None or now - float(last_alert) >= repeat_interval_s
    record = {
        "scope": scope, "set_by": SET_BY, "since": now, "at": iso(now), "until": until,
        "until_at": iso(until), "reason": str(args["reason"]), "level": int(args["level"]),
        "duration_s": duration, "storm_since": float(args.get("storm_since") or now),
        "review_key": review_key(scope), "review_id": review_id, "event_id": event_id,
        "approval_id": approval_id, "alerted_ts": now if send else last_alert, **details}
    tx.state["freezes"][scope] = record
    if event_id is not None:
        tx.complete(event_id, "done", {"scope": scope, "until": until, "until_at": iso(until),
                                       "level": record["level"]})
    tx.decision(f"chain frozen ({scope}) until {iso(until)}", "high",
                {"scope": scope, "level": record["level"], "duration_s": duration,
                 "reason": record["reason"]})
    notices = []
    if send:
        again = "still storming, frozen again" if args.get("kind") == "refreeze" else "frozen"
        notices.append(Notice(
            SUBSYSTEM, _notice_kind(scope), "high",
            f"Retry storm: {_scope_words(scope)} {again} until {iso(until)}",
            f"{record['reason']}. Sample: {str(args.get('sample') or '')[:300]} -- see "
            "`ctoops status`; `ctoops gate chain` exits 1 until then; the freeze ends by itself "
            "and is lifted once a run finds the errors gone.",
            condition=True, active=True, urgent=True,
            fields={"scope": scope, "until": iso(until), "level": str(record["level"])}))
    return record, notices


def lift_freeze(tx: Transaction, ws: Workspace, scope: str, record: dict[str, Any],
                reason: str) -> list[Notice]:
    """Close a freeze the half-open run found quiet: record removed, review closed,
    the lesson written, "resolved" sent."""
    tx.state["freezes"].pop(scope, None)
    tx.close_review(review_key(scope), reason)
    lasted = tx.now - float(record.get("storm_since", record.get("since", tx.now)))
    tx.audit(AuditEvent(tx.command, SUBSYSTEM, "medium", "chain_unfreeze", "done", reason,
                        {"scope": scope, "level": record.get("level"), "storm_lasted_s":
                         round(lasted, 1), "template": record.get("template"),
                         "job": record.get("job")}, True))
    tx.decision(f"chain freeze lifted ({scope})", "medium", {"scope": scope, "reason": reason})
    append_lesson(ws, f"retry storm over ({scope})",
                  f"{record.get('template') or record.get('job')}: the storm lasted about "
                  f"{lasted / 60:.0f} min and needed {record.get('level', 1)} freeze(s) "
                  f"(last {float(record.get('duration_s', 0)):g} s).", tx.now)
    return [Notice(SUBSYSTEM, _notice_kind(scope), "none",
                   f"Retry storm resolved: {_scope_words(scope)} may run again",
                   reason, condition=True, active=False, fields={"scope": scope})]


def held_notice(scope: str, approval_id: str, reason: str, explanation: str) -> Notice:
    """A freeze the kill-switch held: a person must approve or deny it (an event,
    always sent once, when it is held)."""
    return Notice(SUBSYSTEM, f"retry_storm_held:{scope}", "high",
                  f"Retry storm: freeze of {_scope_words(scope)} held for approval",
                  f"{reason} -- {explanation}. Approve: `ctoops approvals approve {approval_id} "
                  f"--reason ...`; deny: `ctoops approvals deny {approval_id} --reason ...`",
                  urgent=True, fields={"scope": scope, "approval_id": approval_id})
