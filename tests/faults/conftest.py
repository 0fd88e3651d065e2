"""Fixtures and helpers of the fault-injection suite (issue 12).

`forkserver`: kill real ctoops work at random points, cheaply (forkserver.py).
`tiny_disk`, `read_only`: a full disk (a 256 KiB tmpfs) and a read-only bind
mount, or a skip with the reason where the machine does not allow mounting.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ctoops_env

HERE = Path(__file__).resolve().parent
ITERATIONS = int(os.environ.get("CTOOPS_FAULT_ITERATIONS", "500"))


def scaled(fraction: float, floor: int = 5) -> int:
    """A share of CTOOPS_FAULT_ITERATIONS (500 by default: the cheap loops run a few
    hundred times, the expensive ones fewer)."""
    return max(floor, int(ITERATIONS * fraction))


@dataclass(frozen=True)
class Outcome:
    pid: int
    killed: bool  # SIGKILL landed while the worker still ran
    exit: int  # the exit code, or -9 when killed
    elapsed_s: float


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class ForkServer:
    """Talks to forkserver.py over its stdin/stdout."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, str(HERE / "forkserver.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=ctoops_env(), cwd=REPO, text=True, bufsize=1)
        assert self.proc.stdout is not None
        hello = json.loads(self.proc.stdout.readline() or "{}")
        assert "ready" in hello, "the fork server did not start"

    def run(self, task: str, delay: float | None = None, env: dict[str, str] | None = None,
            out: Path | None = None, err: Path | None = None, **args: Any) -> Outcome:
        """Run `task` in a fresh fork; SIGKILL it after `delay` seconds (None: let it end)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"task": task, "args": args, "env": env or {}, "out": str(out or self.log),
                   "err": str(err or out or self.log), "delay": delay}
        self.proc.stdin.write(json.dumps(request) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        return Outcome(answer["pid"], answer["killed"], answer["exit"], answer["elapsed_s"])

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> CliRun:
        """`ctoops <argv>` through the real Typer app in a fork (no interpreter start-up):
        exit code, stdout and stderr as a child process would give them."""
        folder = self.log.parent
        out, err = folder / "cli.out", folder / "cli.err"
        out.unlink(missing_ok=True)
        err.unlink(missing_ok=True)
        ran = self.run("cli", env=env, out=out, err=err, argv=list(argv))
        read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
        return CliRun(ran.exit, read(out), read(err))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def forkserver(tmp_path: Path) -> Iterator[ForkServer]:
    server = ForkServer(tmp_path / "workers.log")
    yield server
    server.close()


@pytest.fixture(scope="module")
def shared_forkserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """One fork server for a whole module of CLI runs (each run is its own fork)."""
    server = ForkServer(tmp_path_factory.mktemp("forkserver") / "workers.log")
    yield server
    server.close()


def worker_log_tail(server: ForkServer, lines: int = 40) -> str:
    if not server.log.exists():
        return ""
    return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file under root (not following symlinks), by relative path."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _mount(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: fill it and every writer meets ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not _mount(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount)]):
        pytest.skip("cannot mount a tmpfs here (needs root in a namespace that allows it)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            continue
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC: the disk is now full
    try:
        while os.write(fd, b"\0"):
            continue
    except OSError as exc:
        assert exc.errno == 28, exc
    finally:
        os.close(fd)
    return filler


class ReadOnly:
    """Remount a folder read-only in place (a bind mount over itself)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mounted = False

    def __enter__(self) -> Path:
        if not _mount(["mount", "--bind", str(self.folder), str(self.folder)]):
            pytest.skip("cannot bind-mount here (needs root in a namespace that allows it)")
        self.mounted = True
        subprocess.run(["mount", "-o", "remount,ro,bind", str(self.folder)], check=True)
        return self.folder

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)
