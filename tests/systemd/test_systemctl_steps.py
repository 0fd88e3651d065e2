"""The systemctl steps after writing (daemon-reload, enable --now the timers) and
before removing (disable --now): the argv lists, and running them in order with
a stand-in systemctl (a real script that records its arguments)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ctoops.actions.install_files import run_steps
from ctoops.policy import install_plan as ip

TIMERS = ("ctoops-check-resources.timer", "ctoops-check-sessions.timer",
          "ctoops-retry-storm.timer", "ctoops-zombie-report.timer")


def _plan(scope: str) -> ip.InstallPlan:
    return ip.InstallPlan(scope=scope, way="user" if scope == "user" else "polkit",
                          service_user="u", workspace="/w", unit_dir="/u", etc_dir="/e",
                          manifest_path="/e/m", files=(), timers=TIMERS, restart_command=(),
                          config_keys={}, sudoers_line=None)


def test_r30_install_reloads_then_enables_and_starts_every_timer() -> None:
    assert ip.install_commands(_plan("system"), "/usr/bin/systemctl") == [
        ["/usr/bin/systemctl", "daemon-reload"],
        ["/usr/bin/systemctl", "enable", "--now", *TIMERS]]
    assert ip.install_commands(_plan("user"), "/usr/bin/systemctl")[1][:4] == [
        "/usr/bin/systemctl", "--user", "enable", "--now"]


def test_uninstall_disables_the_timers_first_and_reloads_last() -> None:
    manifest = ip.Manifest("user", "user", {}, (), TIMERS)
    before, after = ip.uninstall_commands(manifest, "systemctl")
    assert before == [["systemctl", "--user", "disable", "--now", *TIMERS]]
    assert after == [["systemctl", "--user", "daemon-reload"]]


def _recorder(tmp_path: Path, fail_on: str | None) -> Path:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "systemctl"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.exit(1 if {fail_on!r} in sys.argv else 0)\n")
    script.chmod(0o755)
    return script


def test_steps_run_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    script = _recorder(tmp_path, "daemon-reload")
    results = run_steps(ip.install_commands(_plan("system"), str(script)))
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls == [["daemon-reload"]], "enable must not run after a failed reload"
    assert len(results) == 1 and not results[0].ok


def test_all_steps_run_when_they_succeed(tmp_path: Path) -> None:
    script = _recorder(tmp_path, None)
    results = run_steps(ip.install_commands(_plan("user"), str(script)))
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls == [["--user", "daemon-reload"], ["--user", "enable", "--now", *TIMERS]]
    assert all(r.ok for r in results)
