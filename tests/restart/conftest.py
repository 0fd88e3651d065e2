"""Fixtures for the safe-restart tests: a real stand-in gateway process, the real
OpenClaw CLI when CTOOPS_OPENCLAW_DIR points at an install, file hashing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.restart.helpers import free_port

HERE = Path(__file__).resolve().parent


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
        import json

        path = self.dir / "argv.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        """Kill the current generation by its recorded pid (test teardown)."""
        if (self.dir / "gateway.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid(), signal.SIGKILL)


@pytest.fixture
def fake_gateway(tmp_path: Path) -> Iterator[FakeGateway]:
    folder = tmp_path / "fakegw"
    folder.mkdir()
    gw = FakeGateway(folder, free_port(), "fgw" + uuid.uuid4().hex[:8])
    yield gw
    gw.stop()


@pytest.fixture
def openclaw_dir() -> Path:
    """A folder laid out like /tmp/gwcache (node24/, gw71/, gw96/), or a skip."""
    value = os.environ.get("CTOOPS_OPENCLAW_DIR", "")
    if not value or not Path(value).is_dir():
        pytest.skip("CTOOPS_OPENCLAW_DIR is not set to an OpenClaw install folder "
                    "(node24/, gw71/, gw96/); the real-gateway check is skipped")
    return Path(value)


