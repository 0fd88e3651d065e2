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


def test_r29_healthy_fast_run_never_loads_typer(tmp_path: Path, fake_gateway: FakeGateway) -> None:
    root = make_workspace(tmp_path / "ws", fake_gateway)
    code = ("import io, sys, contextlib\nfrom ctoops.fastpath import run_fast\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = run_fast(['--root', {str(root)!r}, '--json', 'zombie-report'])\n"
            "print(rc, 'typer' in sys.modules, 'pydantic' in sys.modules, 'ssl' in sys.modules)")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=ctoops_env(), cwd=REPO, timeout=60)
    assert ran.stdout.split() == ["0", "False", "False", "False"], ran.stderr


def test_r22_fast_run_hands_a_queued_outbox_to_cli_hook(tmp_path: Path, fake_gateway: FakeGateway,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """cli.py's post-run hook (the outbox flush) runs on the fast path too, and
    only when something is queued (an empty outbox costs one listdir)."""
    import ctoops.cli as cli
    from ctoops.fastpath import run_fast

    root = make_workspace(tmp_path / "ws", fake_gateway)
    calls: list[str] = []
    monkeypatch.setattr(cli, "_flush_outbox", lambda ctx: calls.append(str(ctx.workspace.root)),
                        raising=False)
    assert run_fast(["--root", str(root), "--json", "zombie-report"]) == 0
    assert calls == []
    (root / "memory" / "outbox").mkdir(parents=True, exist_ok=True)
    (root / "memory" / "outbox" / "0001.json").write_text("{}")
    assert run_fast(["--root", str(root), "--json", "zombie-report"]) == 0
    assert run_fast(["--root", str(root), "--dry-run", "zombie-report"]) == 0
    assert calls == [str(root)]
    capsys.readouterr()
