"""Helpers shared by the safe-restart tests (plain functions, no fixtures)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_hashes(*roots: Path, ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file (and the target of every symlink) under the roots."""
    out: dict[str, str] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                rel = str(path)
                if any(part in rel for part in ignore):
                    continue
                if path.is_symlink():
                    out[rel] = "link:" + os.readlink(path)
                elif path.is_file():
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                elif path.is_dir():
                    out[rel] = "dir"
    return out


@dataclass
class FakeGateway:
    """A fake gateway started and restarted by tests/restart/supervisor.py."""

    dir: Path
    port: int
    name: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def supervisor(self, verb: str, *extra: str) -> list[str]:
        return [sys.executable, str(HERE / "supervisor.py"), str(self.dir), str(self.port),
                self.name, verb, *extra]

    def start(self, bloat_mb: int = 0) -> int:
        subprocess.run(self.supervisor("start", "--bloat", str(bloat_mb), "--ready-after", "0"),
                       check=True, timeout=30, capture_output=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return self.pid()
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the fake gateway did not become ready")

    def pid(self) -> int:
        return int((self.dir / "gateway.pid").read_text())

    def argv_log(self) -> list[list[str]]:
        path = self.dir / "argv.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        """Kill the current generation by its recorded pid (test teardown)."""
        if (self.dir / "gateway.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid(), signal.SIGKILL)
