"""Fixtures for the installer tests: a CLI runner with a private HOME and
XDG folders (so --user installs never touch the real ones), and systemd-analyze.

Every install here goes under --prefix (the packagers' DESTDIR): these tests
write real files, run the real CLI, and never touch the host's /etc.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Ran, run_ctoops, write_config

SCORE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    (h / ".config").mkdir(parents=True)
    (h / "state").mkdir()
    return h


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace whose gateway state and logs live in plain folders."""
    root = tmp_path / "ws"
    root.mkdir()
    write_config(root, {"gateway": {"state_dir": str(tmp_path / "gwstate"),
                                    "log_dir": "/tmp/openclaw"}})
    return root


@pytest.fixture
def install(home: Path) -> Callable[..., Ran]:
    """Run `ctoops <args>` with HOME/XDG pointed into the test's folder."""

    def _run(*args: str, root: Path | None = None) -> Ran:
        env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_STATE_HOME": str(home / "state"), "XDG_RUNTIME_DIR": str(home / "run")}
        return run_ctoops(list(args), root=root, env=env, cwd=home)

    return _run


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return path


@pytest.fixture(scope="session")
def offline_security(systemd_analyze: str) -> str:
    """`security --offline=yes` needs systemd 250 or later."""
    out = subprocess.run([systemd_analyze, "--version"], capture_output=True, text=True,
                         check=False).stdout
    m = re.search(r"systemd (\d+)", out)
    if not m or int(m.group(1)) < 250:
        pytest.skip(f"systemd-analyze security --offline needs systemd >= 250, have: {out[:40]!r}")
    probe = subprocess.run([systemd_analyze, "security", "--help"], capture_output=True,
                           text=True, check=False).stdout
    if "--offline" not in probe:
        pytest.skip("this systemd-analyze has no security --offline")
    return systemd_analyze


def analyze_env(runtime: Path) -> dict[str, str]:
    """--user analysis needs an XDG_RUNTIME_DIR even offline."""
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "warning"}
