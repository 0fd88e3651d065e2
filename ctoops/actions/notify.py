"""Notifications (R10, R13.4, R13.7, R21, R22) and mc-output confirmations (R6).

The interface every command uses: build `Notice` values in the decide step and
hand them to `dispatch()` after the transaction (sending is slow work: never under
the lock). This first version delivers through the local fallbacks only (the
mc-output file and stderr for journald); Discord, the durable outbox and dedup
land with the notifications issue behind the same two functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ctoops.audit import iso
from ctoops.redaction import scrub, scrub_obj
from ctoops.workspace import append_record

if TYPE_CHECKING:
    from ctoops.context import Context


@dataclass(frozen=True)
class Notice:
    """One message. A *condition* (resource pressure, a storm) is deduplicated and
    gets a "resolved" when `active` turns false; an *event* (a restart coming, the
    gateway back, an approval needed) is always sent."""

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


def dispatch(ctx: Context, notices: list[Notice]) -> list[Delivery]:
    """Deliver each notice through the first channel that takes it."""
    out: list[Delivery] = []
    if ctx.dry_run:
        return [Delivery(n.key, False, None, "dry-run: not sent") for n in notices]
    for notice in notices:
        record = {"type": "notice", "ts": ctx.clock.now(), "at": iso(ctx.clock.now()),
                  **asdict(notice), "key": notice.key}
        write_mc_output(ctx, record)
        ctx.warn(f"[{notice.risk}] {notice.title}: {notice.body}")
        out.append(Delivery(notice.key, True, "mc_output"))
    return out


def write_mc_output(ctx: Context, record: dict[str, Any]) -> None:
    """Append one JSON line to mc-output (R6): confirmations other tools read."""
    path = ctx.workspace.path(ctx.config.notify.mc_output)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(scrub_obj(record), ensure_ascii=False, default=str)
    append_record(path, (scrub(line) + "\n").encode("utf-8"))
