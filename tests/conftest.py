"""Shared fixtures: a real workspace on disk and a way to run the real CLI.

The CLI runs as a child process (`python -m ctoops`) with PYTHONPATH set to this
checkout, so tests exercise exactly the code in the tree, exit codes included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def ctoops_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTOOPS_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("INVOCATION_ID", None)
    env.update(extra or {})
    return env


def run_ctoops(args: list[str], root: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 120, cwd: Path | None = None) -> Ran:
    argv = [sys.executable, "-m", "ctoops"]
    if root is not None:
        argv += ["--root", str(root)]
    proc = subprocess.run(argv + args, capture_output=True, text=True, timeout=timeout,
                          env=ctoops_env(env), cwd=cwd or root or REPO)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def write_config(root: Path, data: dict[str, Any]) -> Path:
    path = root / "config" / "ctoops.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class _ReadyHandler(__import__("http.server").server.BaseHTTPRequestHandler):
    """A gateway stand-in that is always live and ready (for guardrail tests that
    need a restart to complete, not to exercise the confirm step)."""

    def do_GET(self) -> None:
        body = (b'{"ok":true,"status":"live"}' if self.path.startswith("/health")
                else b'{"ready":true,"failing":[],"uptimeMs":1,"eventLoop":{"degraded":false}}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def ready_gateway_url() -> Any:
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def workspace(tmp_path: Path, ready_gateway_url: str) -> Path:
    """An empty workspace whose restart command only appends a line to a file and
    whose gateway health endpoint always answers ready."""
    root = tmp_path / "ws"
    root.mkdir()
    write_config(root, {"gateway": {
        "restart_command": [sys.executable, "-c",
                            f"open({str(root / 'restarts.txt')!r}, 'a').write('restart\\n')"],
        "state_dir": str(tmp_path / "openclaw-state"),
        "health_url": ready_gateway_url, "ready_timeout_s": 5, "settle_s": 0,
        "log_dir": str(tmp_path / "openclaw-logs")},
        "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]}})
    return root


@pytest.fixture
def ctoops(workspace: Path) -> Callable[..., Ran]:
    """Run the CLI against the `workspace` fixture."""

    def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Ran:
        return run_ctoops(list(args), root=workspace, env=env, timeout=timeout)

    return _run


@pytest.fixture
def discord_server() -> Any:  # yields a FakeDiscord
    """A local server on 127.0.0.1 that behaves like Discord (tests/fakes/discord_server.py).

    Point `notify.discord.webhook_url` at `.webhook_url`, or `api_base`/`channel_id`
    at `.api_base`/`.channel_id` with `.bot_token` in $CTOOPS_DISCORD_BOT_TOKEN.
    `.script(Reply.rate_limited(0.2), Reply.server_error(), ...)` sets the next
    answers; `.messages` holds the accepted bodies, `.requests` every request.
    """
    from tests.fakes.discord_server import FakeDiscord

    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def fake_logger(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `logger` first on PATH that records its argv in a file (a real process), so
    tests that use the syslog channel never write to the host's syslog.
    Returns (env for the child, the record file)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    record = tmp_path / "logger.argv"
    logger = bindir / "logger"
    logger.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(record)!r}, 'a').write(repr(sys.argv[1:]) + '\\n')\n")
    logger.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, record
