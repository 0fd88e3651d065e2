"""R6: a medium action's confirmation in mc-output, and its later outcome."""

from __future__ import annotations

from ctoops.actions.mc_output import awaiting_outcome, confirm_action, confirm_outcome, read_records
from ctoops.actions.notify import write_mc_output
from tests.notify.support import T0, make_ctx, mc_lines


def test_r6_medium_action_confirmation_then_outcome(workspace):
    ctx = make_ctx(workspace)
    confirm_action(ctx, "act-1", "prune_sessions", "sessions", "removed 12 dead cron runs",
                   "pending", {"removed": 12})
    confirm_action(ctx, "act-2", "freeze_chain", "chain", "froze job nightly for 30 min", "done")
    assert [a["action_id"] for a in awaiting_outcome(ctx)] == ["act-1", "act-2"]
    later = make_ctx(workspace, T0 + 600)
    confirm_outcome(later, "act-1", "confirmed", "sessions.json shrank from 4 MB to 1 MB")
    assert [a["action_id"] for a in awaiting_outcome(later)] == ["act-2"]
    first, _, outcome = mc_lines(workspace)
    assert first["type"] == "confirmation" and first["phase"] == "action"
    assert first["done"] == "removed 12 dead cron runs" and first["at"] == "2027-01-15T08:00:00.000Z"
    assert outcome["phase"] == "outcome" and outcome["ts"] == T0 + 600


def test_dry_run_confirmation_writes_nothing(workspace):
    ctx = make_ctx(workspace)
    ctx.dry_run = True
    record = confirm_action(ctx, "act-1", "prune", "sessions", "would remove 3", "dry_run")
    assert record["dry_run"] and mc_lines(workspace) == []


def test_records_are_scrubbed_of_secrets(workspace):
    ctx = make_ctx(workspace)
    write_mc_output(ctx, {"type": "note", "url": "https://discord.com/api/webhooks/1/s3cretTokenABCDEF"})
    assert "s3cretTokenABCDEF" not in (workspace / "logs" / "mc-output.jsonl").read_text()


def test_a_torn_or_foreign_line_is_skipped_not_fatal(workspace):
    ctx = make_ctx(workspace)
    path = workspace / "logs" / "mc-output.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not json\n[1,2]\n", encoding="utf-8")
    confirm_action(ctx, "act-9", "x", "y", "z", "done")
    assert [r.get("action_id") for r in read_records(path)] == ["act-9"]
    assert [a["action_id"] for a in awaiting_outcome(ctx)] == ["act-9"]


def test_a_secret_next_to_an_escaped_quote_keeps_the_line_valid_json(workspace):
    ctx = make_ctx(workspace)
    write_mc_output(ctx, {"type": "note", "body": 'password=abcdefg"x and token: 0123456789'})
    (line,) = mc_lines(workspace)  # parses
    assert "abcdefg" not in line["body"] and "0123456789" not in line["body"]
