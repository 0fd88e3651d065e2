"""The cost cuts on the every-minute path and the spawn gate (R1, R9; issue 12)
keep behaviour identical: same CLI answers, same process tree, fewer imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from ctoops import cli
from ctoops.probes import process
from tests.conftest import ctoops_env, write_config

ARGVS = [
    [], ["--help"], ["gate"], ["gate", "--help"], ["gate", "spawn"], ["gate", "spawn", "--help"],
    ["gate", "chain", "--job", "j1"], ["gate", "bogus"], ["bogus"], ["chek", "resources"],
    ["--json", "gate", "spawn"], ["--json", "--verbose", "gate", "chain"], ["check"],
    ["check", "--help"], ["check", "resources", "--help"], ["check", "bogus"],
    ["status", "--help"], ["safe-restart"], ["safe-restart", "--reason", " "], ["--root"],
    ["--dry-run", "config", "show", "--help"], ["gate", "spawn", "extra"], ["-x", "gate"],
    ["--json", "status"], ["audit", "tail", "-n", "0"], ["install", "systemd", "--help"],
    ["gate", "--json", "spawn"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a) or "<none>")
def test_r9_branch_app_answers_exactly_like_the_whole_app(argv: list[str], workspace: Path) -> None:
    """main() builds only the named branch of the command tree; output, errors and
    exit codes must not change."""
    runner = CliRunner()
    args = ["--root", str(workspace), *argv] if argv and argv != ["--root"] else argv
    env = {"CTOOPS_FAKE_NOW": "1796000000", "COLUMNS": "100"}
    whole = runner.invoke(cli.app, args, env=env, prog_name="ctoops")
    branch_app = cli._app_for(args)
    branch = runner.invoke(branch_app, args, env=env, prog_name="ctoops")
    assert (branch.exit_code, branch.output) == (whole.exit_code, whole.output)


def test_r9_branch_app_holds_only_the_named_command() -> None:
    slim = cli._app_for(["--root", "/x", "--json", "gate", "spawn"])
    assert [g.name for g in slim.registered_groups] == ["gate"]
    assert slim.registered_commands == []
    assert cli._app_for(["--help", "gate"]) is cli.app
    assert cli._app_for(["--root=/x", "status"]).registered_commands[0].name == "status"


def _loaded(args: list[str], workspace: Path) -> set[str]:
    code = ("import runpy, sys, json, atexit\n"
            "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
            "sys.argv = ['ctoops'] + sys.argv[1:]\n"
            "runpy.run_module('ctoops', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code, "--root", str(workspace), *args],
                          capture_output=True, text=True, env=ctoops_env(), timeout=60, check=False)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_r9_gate_spawn_loads_no_config_audit_lock_or_yaml(workspace: Path) -> None:
    mods = _loaded(["gate", "spawn"], workspace)
    assert "ctoops.commands.gate" in mods
    for heavy in ("ctoops.config", "ctoops.audit", "ctoops.state", "ctoops.policy.guardrails",
                  "yaml", "filelock"):
        assert heavy not in mods, heavy


def test_r1_quiet_check_resources_run_loads_no_audit_code(workspace: Path) -> None:
    """A steady-state run records no audit line, so it must not load the audit module
    (hashing, OpenSSL); the first run, which creates the state, may."""
    write_config(workspace, {"gateway": {"process_name": "ctoops-test-no-such-gateway"},
                             "resources": {"gpu_enabled": False}})
    _loaded(["--json", "check", "resources"], workspace)
    mods = _loaded(["--json", "check", "resources"], workspace)
    assert "ctoops.commands.check_resources" in mods
    assert "ctoops.audit" not in mods


def _tree() -> subprocess.Popen[bytes]:
    script = "sleep 60 & (sleep 60 & sleep 60; wait) & wait"
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(psutil.Process(proc.pid).children(recursive=True)) < 4:
        assert time.monotonic() < deadline, "the process tree did not start"
        time.sleep(0.02)
    return proc


def test_r1_gateway_descendants_match_psutils_walk() -> None:
    proc = _tree()
    try:
        root = psutil.Process(proc.pid)
        expected = sorted(p.pid for p in root.children(recursive=True))
        assert sorted(p.pid for p in process._descendants(root)) == expected
        found = process.describe(proc.pid, "name")
        assert found is not None and found.tree_rss_bytes > found.rss_bytes
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_r1_descendants_fall_back_to_psutil_without_children_files(tmp_path: Path) -> None:
    """A kernel without CONFIG_PROC_CHILDREN: psutil's walk is used."""
    proc = _tree()
    try:
        root = psutil.Process(proc.pid)
        expected = sorted(p.pid for p in root.children(recursive=True))
        assert sorted(p.pid for p in process._descendants(root, procfs=tmp_path)) == expected
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
