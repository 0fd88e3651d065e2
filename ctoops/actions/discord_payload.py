"""Turn one queued message into a Discord message body that Discord accepts.

Pure (no I/O, no clock: `now` is passed in). Why it exists apart from the HTTP
code: Discord answers 400 to a message over its limits, and a 400 is a lost alert;
so every limit is enforced here, with a visible marker where text was cut, and the
test suite checks the result against the same limits the fake server enforces.

Limits (https://discord.com/developers/docs/resources/message): content 2000;
embed title 256, description 4096, 25 fields, field name 256, field value 1024,
footer 2048, all embed text together 6000. Discord counts UTF-16 code units, so
this module does too (an emoji counts 2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
MARK = "… [truncated]"
EMPTY = "—"
DESCRIPTION_FLOOR = 1000  # the body keeps at least this much before fields go
MIN_CUT = len(MARK) + 1
LATE_AFTER_S = 60.0  # a message sent later than this says when it was written

COLOURS = {"none": 0x2ECC71, "low": 0x3498DB, "medium": 0xF1C40F, "high": 0xE74C3C}
RESOLVED_COLOUR = 0x2ECC71
STANDARD_FIELDS = ("reason", "action", "outcome")
LABELS = {"firing": "", "event": "", "reminder": "reminder", "escalated": "escalated",
          "resolved": "RESOLVED", "test": "test"}


def units(text: str) -> int:
    """Length as Discord counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit`, else its start plus MARK, within `limit`."""
    if units(text) <= limit:
        return text
    mark = MARK if units(MARK) < limit else ""
    budget = limit - units(mark)
    out: list[str] = []
    used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            break
        out.append(ch)
        used += width
    return "".join(out) + mark


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _value(text: Any, limit: int) -> str:
    value = str(text) if text is not None else ""
    return cut(value, limit) if value.strip() else EMPTY


def _field(name: str, value: Any, inline: bool) -> dict[str, Any]:
    return {"name": _value(name, FIELD_NAME_MAX), "value": _value(value, FIELD_VALUE_MAX),
            "inline": inline}


def _embed_size(embed: dict[str, Any]) -> int:
    size = units(embed.get("title", "")) + units(embed.get("description", ""))
    size += units(embed.get("footer", {}).get("text", ""))
    for f in embed.get("fields", []):
        size += units(f["name"]) + units(f["value"])
    return size


def build(message: dict[str, Any], host: str, now: float) -> dict[str, Any]:
    """The JSON body for POST /channels/{id}/messages or a webhook."""
    notice = message["notice"]
    kind = str(message.get("kind", "event"))
    risk = str(notice.get("risk", "low"))
    created = float(message.get("created_ts", now))
    label = " · ".join(x for x in (risk.upper(), LABELS.get(kind, kind)) if x)
    headline = f"**[{label}]** {notice.get('subsystem', '?')}: {notice.get('title', '')}"
    if kind in ("reminder", "escalated") and message.get("first_ts"):
        headline += f" (active since {_iso(float(message['first_ts']))})"
    if now - created > LATE_AFTER_S:
        headline += (f"\n(written {_iso(created)}, delivered {(now - created) / 60:.0f} min "
                     "late: Discord was unreachable)")
    embed = _embed(notice, kind, risk, host, message, created)
    return {"content": cut(headline, CONTENT_MAX), "embeds": [embed],
            "allowed_mentions": {"parse": []}}


def _embed(notice: dict[str, Any], kind: str, risk: str, host: str, message: dict[str, Any],
           created: float) -> dict[str, Any]:
    extra: dict[str, Any] = dict(notice.get("fields") or {})
    core = [_field("host", host, True), _field("subsystem", notice.get("subsystem"), True),
            _field("risk", risk, True)]
    core += [_field(name, extra.pop(name, None), name == "outcome") for name in STANDARD_FIELDS]
    more = [_field(str(k), v, False) for k, v in extra.items()]
    title = str(notice.get("title") or "(no title)")
    if kind == "resolved":
        title = f"Resolved: {title}"
    embed: dict[str, Any] = {
        "title": cut(title, TITLE_MAX),
        "description": cut(str(notice.get("body") or EMPTY), DESCRIPTION_MAX),
        "color": RESOLVED_COLOUR if kind == "resolved" else COLOURS.get(risk, COLOURS["low"]),
        "timestamp": _iso(created),
        "footer": {"text": cut(f"ctoops · {message.get('key', '')} · {kind}", 200)},
    }
    return _fit(embed, core, more)


def _fit(embed: dict[str, Any], core: list[dict[str, Any]], more: list[dict[str, Any]]
         ) -> dict[str, Any]:
    """Keep within FIELDS_MAX and EMBED_TOTAL_MAX. What goes first: the
    description down to a floor, then extra fields from the end (replaced by one
    marker field that counts them), then the description again, then the
    longest field values. Title, host, subsystem and risk always stay."""
    more = list(more)
    hidden = 0

    def assemble() -> None:
        marker = [_field(MARK, f"{hidden} more field(s) not shown", False)] if hidden else []
        embed["fields"] = core + more + marker

    while len(core) + len(more) + (1 if hidden else 0) > FIELDS_MAX:
        more.pop()
        hidden += 1
    assemble()
    desc = embed["description"]
    excess = _embed_size(embed) - EMBED_TOTAL_MAX
    if excess > 0 and units(desc) > DESCRIPTION_FLOOR:
        embed["description"] = cut(desc, max(DESCRIPTION_FLOOR, units(desc) - excess))
    while _embed_size(embed) > EMBED_TOTAL_MAX and more:
        more.pop()
        hidden += 1
        assemble()
    excess = _embed_size(embed) - EMBED_TOTAL_MAX
    if excess > 0:
        desc = embed["description"]
        embed["description"] = cut(desc, max(MIN_CUT, units(desc) - excess))
    while (excess := _embed_size(embed) - EMBED_TOTAL_MAX) > 0:
        longest = max(embed["fields"], key=lambda f: units(f["value"]))
        before = units(longest["value"])
        longest["value"] = cut(longest["value"], max(MIN_CUT, before - excess))
        if units(longest["value"]) >= before:
            break  # cannot happen with these limits; never loop forever on a bug
    return embed
