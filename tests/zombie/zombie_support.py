"""Helpers for zombie-report tests: a real child HTTP server standing in for the gateway.

The server runs under a symlinked interpreter named `fakegw-<hex>`, so the kernel
gives it that process name and ctoops finds it by `gateway.process_name` exactly
as it finds `openclaw-gateway`. SIGSTOP makes it a real zombie (PID alive in state
T, probes time out); SIGCONT revives it; SIGKILL makes it dead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class FakeGateway:
    proc: subprocess.Popen[bytes]
    name: str
    port: int
    mode_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, **mode: Any) -> None:
        tmp = self.mode_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(mode))
        tmp.replace(self.mode_file)

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        _wait_state(self.pid, "T")

    def cont(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.proc.kill()
        self.proc.wait(timeout=10)


def _wait_state(pid: int, letter: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:][:1] == letter:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never reached state {letter}")


def start_fake_gateway(folder: Path, name: str | None = None) -> FakeGateway:
    name = name or f"fakegw-{uuid.uuid4().hex[:6]}"
    exe = folder / name
    exe.symlink_to(os.path.realpath(sys.executable))
    mode_file, port_file = folder / "mode.json", folder / "port"
    mode_file.write_text("{}")
    proc = subprocess.Popen([str(exe), "-S", str(HERE / "fakegw.py"), str(mode_file),
                             str(port_file)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the fake gateway did not start")
        time.sleep(0.02)
    gw = FakeGateway(proc, name, int(port_file.read_text()), mode_file)
    with urllib.request.urlopen(gw.url + "/healthz", timeout=5) as resp:
        assert resp.status == 200
    return gw


def gateway_log(folder: Path, lines: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "openclaw-2026-11-30.log"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def audit_lines(root: Path) -> list[dict[str, Any]]:
    path = root / "logs" / "cto-ops-audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mc_output(root: Path) -> list[dict[str, Any]]:
    path = root / "logs" / "mc-output.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def state(root: Path) -> dict[str, Any]:
    return json.loads((root / "memory" / "orchestration-state.json").read_text())


def make_workspace(root: Path, gw: FakeGateway, **zombie: Any) -> Path:
    """A workspace like tests/conftest.py's `workspace` (restarts append to
    restarts.txt, notices go to mc-output), pointed at `gw`."""
    from tests.conftest import write_config

    root.mkdir(parents=True, exist_ok=True)
    write_config(root, {
        "gateway": {"restart_command": [sys.executable, "-c", f"open({str(root / 'restarts.txt')!r}, "
                                        "'a').write('restart\\n')"],
                    "state_dir": str(root.parent / "openclaw-state"),
                    "log_dir": str(root.parent / "openclaw-logs"),
                    "health_url": gw.url, "process_name": gw.name, "probe_timeout_s": 0.5,
                    "ready_timeout_s": 1, "settle_s": 0},
        "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]},
        "zombie": zombie})
    return root
