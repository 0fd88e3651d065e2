"""Messages stay within Discord's limits (never a 400), with a visible marker."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.actions import discord_payload as dp
from tests.fakes.discord_server import limit_problems

NOW = 1_800_000_000.0


def message(title: str = "Memory pressure", body: str = "RSS 91%", risk: str = "high",
            kind: str = "firing", fields: dict | None = None, created: float = NOW,
            first_ts: float | None = None) -> dict:
    return {"created_ts": created, "kind": kind, "first_ts": first_ts, "key": "resources:pressure",
            "notice": {"subsystem": "resources", "kind": "pressure", "risk": risk, "title": title,
                       "body": body, "condition": True, "active": True, "urgent": False,
                       "fields": fields or {}}}


def test_embed_has_host_subsystem_reason_action_outcome_and_risk_colour():
    p = dp.build(message(fields={"reason": "RSS over 90%", "action": "restart requested",
                                 "outcome": "pending", "pid": "4242"}), "web-1", NOW)
    embed = p["embeds"][0]
    names = [f["name"] for f in embed["fields"]]
    assert names[:6] == ["host", "subsystem", "risk", "reason", "action", "outcome"]
    assert names[6] == "pid"
    values = {f["name"]: f["value"] for f in embed["fields"]}
    assert values["host"] == "web-1" and values["reason"] == "RSS over 90%"
    assert embed["color"] == dp.COLOURS["high"]
    assert dp.build(message(risk="medium"), "h", NOW)["embeds"][0]["color"] == dp.COLOURS["medium"]
    assert p["allowed_mentions"] == {"parse": []}  # no @everyone from a log line
    assert "**[HIGH]**" in p["content"] and limit_problems(p) == []


def test_missing_standard_fields_show_a_dash_not_an_empty_value():
    embed = dp.build(message(), "h", NOW)["embeds"][0]
    assert {f["name"]: f["value"] for f in embed["fields"]}["action"] == dp.EMPTY


def test_resolved_is_green_and_says_so():
    p = dp.build(message(kind="resolved"), "h", NOW)
    assert p["embeds"][0]["color"] == dp.RESOLVED_COLOUR
    assert p["embeds"][0]["title"].startswith("Resolved: ") and "RESOLVED" in p["content"]


def test_late_delivery_shows_the_original_timestamp():
    p = dp.build(message(created=NOW - 3600), "h", NOW)
    assert "written 2027-01-15T07:00:00Z" in p["content"] and "60 min late" in p["content"]
    assert p["embeds"][0]["timestamp"] == "2027-01-15T07:00:00Z"
    assert "late" not in dp.build(message(), "h", NOW)["content"]


def test_huge_text_is_cut_within_every_limit_with_a_visible_marker():
    p = dp.build(message(title="T" * 1000, body="B" * 10000,
                         fields={"reason": "R" * 5000, "action": "A" * 5000,
                                 "outcome": "O" * 5000, **{f"f{i}": "x" * 2000 for i in range(40)}}),
                 "h" * 300, NOW)
    assert limit_problems(p) == []
    embed = p["embeds"][0]
    assert embed["title"].endswith(dp.MARK) and dp.MARK in embed["description"]
    assert len(embed["fields"]) <= 25
    assert embed["fields"][-1]["name"] == dp.MARK and "not shown" in embed["fields"][-1]["value"]
    assert [f["name"] for f in embed["fields"][:3]] == ["host", "subsystem", "risk"]


def test_long_title_in_content_is_cut_to_2000():
    p = dp.build(message(title="x" * 5000), "h", NOW)
    assert dp.units(p["content"]) <= 2000 and p["content"].endswith(dp.MARK)


def test_cut_counts_utf16_units_like_discord():
    text = "😀" * 300  # 600 UTF-16 units
    out = dp.cut(text, 256)
    assert dp.units(out) <= 256 and out.endswith(dp.MARK)
    assert dp.cut("short", 256) == "short"


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000)


@settings(max_examples=60, deadline=None)
@given(title=_text, body=st.text(max_size=9000), host=_text,
       fields=st.dictionaries(st.text(max_size=300), _text, max_size=40),
       kind=st.sampled_from(["firing", "reminder", "resolved", "event", "escalated"]))
def test_any_message_is_accepted_by_discord_limits(title, body, host, fields, kind):
    p = dp.build(message(title=title, body=body, fields=fields, kind=kind, first_ts=NOW - 10),
                 host, NOW)
    assert limit_problems(p) == []
