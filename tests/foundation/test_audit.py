"""The audit trail (R16, R26, R28): a hash chain that catches an edit, a deletion
or a reorder at the right line, and tells a torn last line from tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctoops.audit import AuditEvent, append_events, append_lesson, verify
from ctoops.redaction import register
from ctoops.workspace import Workspace
from tests.conftest import run_ctoops


def _events(n: int) -> list[AuditEvent]:
    return [AuditEvent("test", "gateway", "low", f"action{i}", "observed", f"reason {i}",
                       {"i": i}) for i in range(n)]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    append_events(ws, _events(5), 1000.0)
    return ws


def test_r16_every_record_has_the_design_fields(ws: Workspace) -> None:
    for line in ws.audit_log.read_text().splitlines():
        record = json.loads(line)
        for key in ("ts", "host", "pid", "user", "command", "subsystem", "risk", "action",
                    "outcome", "reason", "details", "prev", "hash"):
            assert key in record, key


def test_r16_intact_chain_verifies(ws: Workspace) -> None:
    result = verify(ws.audit_log)
    assert result.ok and result.lines == 5 and not result.torn_tail


def test_r16_edited_line_fails_at_that_line(ws: Workspace) -> None:
    lines = ws.audit_log.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"reason 2", b"reason X")
    ws.audit_log.write_bytes(b"".join(lines))
    result = verify(ws.audit_log)
    assert not result.ok and result.bad_line == 3 and "edited" in result.problem


def test_r16_deleted_line_fails_at_the_next_line(ws: Workspace) -> None:
    lines = ws.audit_log.read_bytes().splitlines(keepends=True)
    del lines[1]
    ws.audit_log.write_bytes(b"".join(lines))
    result = verify(ws.audit_log)
    assert not result.ok and result.bad_line == 2 and "chain broken" in result.problem


def test_r16_swapped_lines_fail(ws: Workspace) -> None:
    lines = ws.audit_log.read_bytes().splitlines(keepends=True)
    lines[3], lines[4] = lines[4], lines[3]
    ws.audit_log.write_bytes(b"".join(lines))
    result = verify(ws.audit_log)
    assert not result.ok and result.bad_line == 4


def test_r16_rehashed_edit_is_still_caught_by_the_next_link(ws: Workspace) -> None:
    import hashlib

    lines = ws.audit_log.read_bytes().splitlines(keepends=True)
    body = lines[1][: -len(',"hash":""}\n') - 64].replace(b"reason 1", b"forged!!")
    lines[1] = body + f',"hash":"{hashlib.sha256(body).hexdigest()}"}}\n'.encode()
    ws.audit_log.write_bytes(b"".join(lines))
    result = verify(ws.audit_log)
    assert not result.ok and result.bad_line == 3


def test_r16_torn_last_line_is_reported_as_torn_not_tampering(ws: Workspace) -> None:
    with ws.audit_log.open("ab") as fh:
        fh.write(b'{"ts":"2026-01-01T00:00:00Z","command":"cut off')
    result = verify(ws.audit_log)
    assert result.ok and result.torn_tail and result.lines == 5


def test_r16_append_after_torn_tail_moves_it_aside_and_chain_stays_intact(ws: Workspace) -> None:
    with ws.audit_log.open("ab") as fh:
        fh.write(b'{"partial')
    append_events(ws, _events(1), 2000.0)
    result = verify(ws.audit_log)
    assert result.ok and not result.torn_tail and result.lines == 7  # repair note + event
    [sidecar] = result.sidecars
    assert (ws.audit_log.parent / sidecar).read_bytes() == b'{"partial'


def test_r28_markdown_summary_has_one_row_per_event(ws: Workspace) -> None:
    rows = [r for r in ws.audit_md.read_text().splitlines() if r.startswith("| 19")]
    assert len(rows) == 5
    append_events(ws, [AuditEvent("t", "g", "high", "a|b", "done", "pipe | inside\nnewline")],
                  3000.0)
    last = ws.audit_md.read_text().splitlines()[-1]
    assert "a\\|b" in last and "pipe \\| inside newline" in last


def test_r26_lessons_append(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    append_lesson(ws, "restart freed 55%", "before 2 GiB, after 0.9 GiB", 1000.0)
    append_lesson(ws, "second", "body", 2000.0)
    text = ws.lessons_md.read_text()
    assert text.startswith("# Lessons") and text.count("\n## ") == 2


def test_secrets_never_reach_the_audit_files(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    register("tok-SUPERSECRET-123456")
    url = "https://discord.com/api/webhooks/1234/abcdefWEBHOOKSECRET"
    append_events(ws, [AuditEvent("t", "notify", "low", "send", "failed",
                                  f"POST {url} failed with tok-SUPERSECRET-123456",
                                  {"url": url})], 1000.0)
    for path in (ws.audit_log, ws.audit_md):
        text = path.read_text()
        assert "WEBHOOKSECRET" not in text and "SUPERSECRET" not in text
    assert verify(ws.audit_log).ok


def test_cli_audit_verify_exit_codes(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    append_events(ws, _events(3), 1000.0)
    ok = run_ctoops(["--json", "audit", "verify"], root=tmp_path)
    assert ok.returncode == 0 and ok.json()["ok"] is True
    lines = ws.audit_log.read_bytes().splitlines(keepends=True)
    ws.audit_log.write_bytes(lines[0] + lines[2])
    bad = run_ctoops(["audit", "verify"], root=tmp_path)
    assert bad.returncode == 1 and "line 2" in bad.stdout
