"""Integration fixtures: the real OpenClaw gateway (see openclaw_gateway.py).

`openclaw_install` (session) finds the install through $CTOOPS_OPENCLAW_DIR, else
`<repo>/.gw`, and skips with the reason printed when neither holds one
(`scripts/install-openclaw.sh DIR` makes one). `openclaw_gateway` starts a fresh
2026.9.6 gateway per test (tests here stop and break it) and stops it by PID.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.openclaw_gateway import (
    OpenClawInstall,
    RunningGateway,
    find_install,
    start_gateway,
    stop_gateway,
)


@pytest.fixture(scope="session")
def openclaw_install() -> OpenClawInstall:
    install, why = find_install()
    if install is None:
        sys.stderr.write(f"\nskipping integration tests: {why}\n")
        pytest.skip(why)
    return install


@pytest.fixture
def openclaw_gateway(openclaw_install: OpenClawInstall, tmp_path: Path) -> Iterator[RunningGateway]:
    """A live 2026.9.6 gateway on a free loopback port with its own HOME and log
    folder; `.pid` is the process titled openclaw-gateway."""
    base = tmp_path / "openclaw"
    base.mkdir()
    gw = start_gateway(openclaw_install, base)
    try:
        yield gw
    finally:
        stop_gateway(gw)
