"""`python -m ctoops` starts the every-minute checks without Typer (ctoops/fastpath.py):
same output, same exit codes, same errors; anything else still goes to Typer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctoops.fastpath import parse
from tests.conftest import REPO, ctoops_env, write_config
from tests.zombie.zombie_support import FakeGateway, make_workspace

TYPER = [sys.executable, "-c", "import sys; from ctoops.cli import main; sys.argv[0] = 'ctoops'; main()"]
FAST = [sys.executable, "-m", "ctoops"]


@pytest.mark.parametrize("argv, expected", [
    (["zombie-report"], ({}, "zombie-report")),
    (["--json", "--root", "/w", "zombie-report"], ({"json": True, "root": "/w"}, "zombie-report")),
    (["--root=/w", "--config=/c.yaml", "--dry-run", "--verbose", "zombie-report"],
     ({"root": "/w", "config": "/c.yaml", "dry_run": True, "verbose": True}, "zombie-report")),
])
def test_r29_fast_path_parses_timer_command_lines(argv: list[str], expected: tuple) -> None:
    opts, command = parse(argv)  # type: ignore[misc]
    base = {"root": None, "config": None, "json": False, "dry_run": False, "verbose": False}
    assert (opts, command) == ({**base, **expected[0]}, expected[1])


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["zombie-report", "--help"], ["status"], ["--root"], ["--bogus", "zombie-report"],
    ["zombie-report", "extra"], ["--no-json", "zombie-report"], ["check", "resources"]])
def test_r29_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


def run(argv: list[str], root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv, "--root", str(root), *args], capture_output=True, text=True,
                          env=ctoops_env(), cwd=REPO, timeout=60)


def test_r29_fast_and_typer_paths_give_the_same_verdict(tmp_path: Path,
                                                        fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway)
    fast, typer = run(FAST, root, "--json", "zombie-report"), run(TYPER, root, "--json", "zombie-report")
    assert fast.returncode == typer.returncode == 0
    a, b = (json.loads(x.stdout) for x in (fast, typer))
    assert a.keys() == b.keys() and a["state"] == b["state"] == "healthy"
    assert [f["check"] for f in a["findings"]] == [f["check"] for f in b["findings"]]
    plain_fast, plain_typer = run(FAST, root, "zombie-report"), run(TYPER, root, "zombie-report")
    assert plain_fast.stdout.split(" - ")[0] == plain_typer.stdout.split(" - ")[0] \
        == "ZOMBIE-REPORT OK"


def test_r29_fast_path_errors_match_typer(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_config(root, {"zombie": {"zombie_confirm_samples": "three"}})
    fast, typer = run(FAST, root, "--json", "zombie-report"), run(TYPER, root, "--json", "zombie-report")
    assert fast.returncode == typer.returncode == 3
    assert fast.stdout == typer.stdout and "zombie.zombie_confirm_samples" in fast.stdout
    assert fast.stderr.splitlines()[-1] == typer.stderr.splitlines()[-1]


def test_r29_help_and_other_commands_still_work_through_python_m(tmp_path: Path) -> None:
    ran = run(FAST, tmp_path / "ws", "zombie-report", "--help")
    assert ran.returncode == 0 and "Detect a hung gateway" in ran.stdout
    assert run(FAST, tmp_path / "ws", "--json", "status").returncode == 0
