"""The command-line contract (DESIGN.md): --json is one JSON document for every
command, exit codes follow Nagios for checks and sysexits for actions, the
embedded default workspace works with no flags."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Ran, run_ctoops

EVERY_COMMAND = [
    ["status"], ["check", "resources"], ["check", "sessions"], ["retry-storm"],
    ["zombie-report"], ["safe-restart", "--reason", "json contract"], ["config", "validate"],
    ["config", "show"], ["audit", "tail"], ["audit", "verify"], ["approvals", "list"],
    ["gate", "spawn"], ["gate", "chain"], ["gate", "chain", "--job", "j1"],
    ["safe-mode", "show"], ["notify", "gateway-up"],
]


@pytest.mark.parametrize("args", EVERY_COMMAND, ids=lambda a: " ".join(a))
def test_json_output_is_one_document_for_every_command(ctoops: Callable[..., Ran],
                                                       args: list[str]) -> None:
    ran = ctoops("--json", *args, timeout=180)
    doc = json.loads(ran.stdout)  # one document, nothing else on stdout
    assert isinstance(doc, dict)
    assert doc["command"] == " ".join(args[:2]) if args[0] in ("check", "config", "audit",
                                                               "approvals", "gate", "safe-mode",
                                                               "notify") else args[0]
    assert doc["exit_code"] == ran.returncode
    assert ran.returncode in (0, 1, 2, 3, 75, 77), ran.stderr


def test_safe_restart_requires_a_reason(ctoops: Callable[..., Ran]) -> None:
    assert ctoops("safe-restart").returncode == 2
    blank = ctoops("safe-restart", "--reason", "   ")
    assert blank.returncode == 2 and "reason" in blank.stderr


def test_unknown_command_is_a_usage_error(ctoops: Callable[..., Ran]) -> None:
    assert ctoops("no-such-command").returncode == 2


def test_gate_fails_closed_when_state_is_unreadable(ctoops: Callable[..., Ran],
                                                    workspace: Path) -> None:
    state = workspace / "memory" / "orchestration-state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{not json")
    ran = ctoops("--json", "gate", "spawn")
    assert ran.returncode == 1
    doc = ran.json()
    assert doc["allowed"] is False and "unreadable" in doc["error"]
    # and the corrupt file was quarantined, so the workspace is now in safe mode
    assert list(state.parent.glob("orchestration-state.json.corrupt-*"))
    assert ctoops("--json", "status").json()["safe_mode"] is not None


def test_status_shows_safe_mode_and_how_to_leave(ctoops: Callable[..., Ran],
                                                 workspace: Path) -> None:
    state = workspace / "memory" / "orchestration-state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('"just a string"')
    ran = ctoops("status")
    assert ran.returncode == 2
    assert "SAFE MODE" in ran.stdout and "safe-mode leave" in ran.stdout
    assert "STATE CORRUPT" in ran.stderr
    held = ctoops("safe-restart", "--reason", "while in safe mode")
    assert held.returncode == 77
    assert not (workspace / "restarts.txt").exists()
    assert ctoops("safe-mode", "leave", "--reason", "checked the file").returncode == 0
    assert ctoops("safe-restart", "--reason", "after leaving").returncode == 0
    assert (workspace / "restarts.txt").read_text() == "restart\n"


def test_plain_output_first_line_is_a_status_line(ctoops: Callable[..., Ran]) -> None:
    ran = ctoops("status")
    first = ran.stdout.splitlines()[0]
    assert first.startswith("STATUS OK - ") and "| restarts_left=3" in first
    assert "\x1b[" not in ran.stdout  # no colour codes when not a TTY


def test_embedded_default_workspace_is_created_on_first_run(tmp_path: Path) -> None:
    home = tmp_path / "state-home"
    empty_cwd = tmp_path / "elsewhere"
    empty_cwd.mkdir()
    ran = run_ctoops(["--json", "status"], env={"XDG_STATE_HOME": str(home)}, cwd=empty_cwd)
    assert ran.returncode == 0, ran.stderr
    root = home / "ctoops"
    assert (root / "config" / "ctoops.yaml").is_file()
    assert (root / "memory" / "orchestration-state.json").is_file()
    assert not os.stat(root / "config" / "ctoops.yaml").st_mode & 0o002


def test_workspace_is_found_from_the_current_folder_upwards(workspace: Path) -> None:
    deep = workspace / "a" / "b"
    deep.mkdir(parents=True)
    ran = run_ctoops(["--json", "status"], cwd=deep)
    assert ran.returncode == 0, ran.stderr
    assert (workspace / "memory" / "orchestration-state.json").is_file()


def test_ctoops_root_env_is_honoured(workspace: Path, tmp_path: Path) -> None:
    ran = run_ctoops(["--json", "status"], env={"CTOOPS_ROOT": str(workspace)}, cwd=tmp_path)
    assert ran.returncode == 0
    assert (workspace / "memory" / "orchestration-state.json").is_file()


def test_python_dash_m_and_help_work() -> None:
    ran = run_ctoops(["--help"])
    assert ran.returncode == 0 and "safe-restart" in ran.stdout


def test_a_reader_that_closes_the_pipe_early_is_not_a_crash(workspace: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO, ctoops_env

    proc = subprocess.Popen([sys.executable, "-m", "ctoops", "--root", str(workspace), "status"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ctoops_env(),
                            cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: nobody reads what status prints
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
