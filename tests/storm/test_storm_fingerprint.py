"""R4: one failure repeated is one fingerprint, whatever its per-attempt details."""

from __future__ import annotations

import pytest

from ctoops.policy.fingerprint import MAX_TEMPLATE_CHARS, fingerprint, normalise

CASES = [
    # (message, expected template)
    ("request req_1a2b3c4d failed after 3 retries (502 Bad Gateway)",
     "request req_<id> failed after <n> retries (<n> Bad Gateway)"),
    ("timeout at 2026-11-30T11:42:17.074+00:00 for session 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
     "timeout at <ts> for session <uuid>"),
    ("timeout at 2026-11-30 11:42:17,5 in 12:01:02", "timeout at <ts> in <ts>"),
    ("cannot open /tmp/openclaw/run-123/state.json: ENOENT", "cannot open <path>: ENOENT"),
    ("cannot open ~/.openclaw/agents/main/sessions/abc.jsonl", "cannot open <path>"),
    ("read /x.log failed", "read <path> failed"),
    ('model "gpt-5" rejected: rate limit 429, retry in 1500ms',
     'model "<q>" rejected: rate limit <n>, retry in <n>ms'),
    ("Failed with result 'exit-code'.", "Failed with result '<q>'."),
    ("tool `exec` denied", "tool `<q>` denied"),
    ("fetch http://127.0.0.1:18789/readyz?x=1 failed", "fetch <url> failed"),
    ("ECONNREFUSED 127.0.0.1:18789", "ECONNREFUSED <ip>"),
    ("object 0xdeadbeef at deadbeefcafe1234 freed", "object <hex> at <hex> freed"),
    ("commit 9f3c2a1b7e pushed", "commit <hex> pushed"),
    ("job cron:abc12345 failed", "job cron:<hex> failed"),
    ("run-7f3a9c2d and task_00ff99 stalled", "run-<id> and task_<id> stalled"),
    ("http2 stream error; ipv4 only", "http2 stream error; ipv4 only"),
    ("took 12.5s and 3,000 tokens (-4 left)", "took <n>s and <n> tokens (<n> left)"),
    ("openclaw-gateway.service: Main process exited, code=exited, status=1/FAILURE",
     "openclaw-gateway.service: Main process exited, code=exited, status=<n>/FAILURE"),
    ("  many   spaces\n and\tlines  ", "many spaces and lines"),
    ("deadline exceeded", "deadline exceeded"),  # words made of hex letters stay words
]


@pytest.mark.parametrize(("message", "expected"), CASES)
def test_r4_fingerprint_normalises_per_attempt_details(message: str, expected: str) -> None:
    assert normalise(message) == expected


def test_r4_same_failure_with_different_ids_has_one_fingerprint() -> None:
    a = fingerprint("agent", "request req_1a2b3c4d to /v1/chat failed after 1200 ms")
    b = fingerprint("agent", "request req_99ff00aa to /v1/chat failed after 87 ms")
    assert a == b
    assert a[1] == "agent: request req_<id> to <path> failed after <n> ms"


def test_r4_different_failures_or_subsystems_have_different_fingerprints() -> None:
    assert fingerprint("agent", "HTTP 502")[0] != fingerprint("agent", "ENOSPC")[0]
    assert fingerprint("agent", "HTTP 502")[0] != fingerprint("cron", "HTTP 502")[0]


def test_r4_an_explicit_fingerprint_wins_over_the_text() -> None:
    assert fingerprint("mc", "text one", "disk-full")[0] == fingerprint("mc", "other", "disk-full")[0]


def test_r4_templates_are_bounded() -> None:
    assert len(normalise("word " * 500)) == MAX_TEMPLATE_CHARS
