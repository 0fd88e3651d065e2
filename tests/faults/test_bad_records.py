"""One bad record in each of the smaller inputs ctoops parses (issue 12): a JSON
value nested thousands deep (Python's parser raises RecursionError, not
ValueError), a number beyond a float, a date at the edge of the calendar. Each
reader skips or reports it; none raises."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from ctoops.actions import outbox
from ctoops.actions.maintenance import parse_summary
from ctoops.actions.sidecar_lock import judge_holder
from ctoops.audit import GENESIS, _check_line, read_tail
from ctoops.probes.errorevent import parse_time
from ctoops.probes.health import get_json
from ctoops.probes.journal import read_journal

DEEP = "[" * 50_000 + "]" * 50_000


def test_deep_audit_line_is_reported_not_raised(tmp_path: Path) -> None:
    body = ('{"ts":"x","details":' + DEEP + ',"prev":"' + GENESIS + '"').encode()
    line = body + f',"hash":"{hashlib.sha256(body).hexdigest()}"}}'.encode()
    assert _check_line(line, GENESIS) == "record is not valid JSON"
    log = tmp_path / "audit.log"
    log.write_bytes(line + b"\n" + b'{"ok": 1}\n')
    assert read_tail(log, 5) == [{"ok": 1}]


def test_deep_outbox_message_is_not_a_message(tmp_path: Path) -> None:
    (tmp_path / "000000000001-1.json").write_text('{"notice": ' + DEEP + "}")
    with pytest.raises(ValueError):
        outbox.read(tmp_path, "000000000001-1.json")


def test_deep_mc_output_line_is_skipped(tmp_path: Path) -> None:
    from ctoops.actions.mc_output import read_records

    path = tmp_path / "mc-output.jsonl"
    path.write_text(DEEP + '\n{"type": "notice"}\n')
    assert read_records(path) == [{"type": "notice"}]


def test_deep_sidecar_lock_payload_is_judged_by_its_file_time() -> None:
    holder = judge_holder(DEEP.encode(), mtime=1000.0, now=2000.0, stale_s=30)
    assert holder.stale and holder.pid is None


def test_deep_maintenance_output_has_no_summary() -> None:
    assert parse_summary(DEEP + '\n{"ok": true}') == {"ok": True}
    assert parse_summary("{" + DEEP) is None


@pytest.mark.parametrize("value", [10**400, -(10**400), float("inf"), float("nan"), "0001-01-01",
                                   "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
                                   True, None, "soon", [1]], ids=lambda v: repr(v)[:24])
def test_event_times_out_of_range_fall_back(value: object) -> None:
    got = parse_time(value, 1234.5)
    assert isinstance(got, float) and got == got and abs(got) != float("inf")


def test_gateway_answering_deep_json_is_a_probe_error() -> None:
    class Deep(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ('{"ready": ' + "[" * 20_000 + "]" * 20_000 + "}").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Deep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = get_json(f"http://127.0.0.1:{server.server_address[1]}/readyz", 2.0)
    finally:
        server.shutdown()
        server.server_close()
    assert probe.answered and probe.error == "body is not JSON"


def test_journal_entry_nested_too_deep_is_a_bad_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A real child process stands in for journalctl (first on PATH)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "journalctl"
    good = json.dumps({"__CURSOR": "c1", "MESSAGE": "boom", "PRIORITY": "3",
                       "__REALTIME_TIMESTAMP": "1800000000000000", "_SYSTEMD_UNIT": "gw.service"})
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"sys.stdout.write({DEEP[:20000] + DEEP[-20000:]!r} + '\\n' + {good!r} + '\\n')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    got = read_journal("gw.service", "system", None, 0.0, 4, 1 << 20, 10.0, str(tmp_path))
    assert got.status == "read" and got.bad_lines == 1, got
