"""Integration fixtures: the real OpenClaw gateway (see openclaw_gateway.py).

- `openclaw_install` (session): the install, found through $CTOOPS_OPENCLAW_DIR,
  else `<repo>/.gw`; every test that needs it is skipped, with the reason
  printed, when neither holds one (`scripts/install-openclaw.sh DIR` makes one).
- `shared_gateway` (session): one 2026.9.6 gateway for tests that only read it
  (probes, logs, databases, memory). It runs in a child memory cgroup where the
  machine allows one. Never stop, signal or restart it in a test.
- `openclaw_gateway` (function): a fresh 2026.9.6 gateway per test, for tests
  that stop, SIGSTOP or restart it. Stopped by PID at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.cgroups import MemoryCgroup, memory_cgroup
from tests.integration.openclaw_gateway import (
    OpenClawInstall,
    RunningGateway,
    find_install,
    start_gateway,
    stop_gateway,
)


@dataclass(frozen=True)
class SharedGateway:
    gw: RunningGateway
    cgroup: MemoryCgroup | None  # the memory cgroup it runs in, if any
    cgroup_reason: str  # why it has none


@pytest.fixture(scope="session")
def openclaw_install() -> OpenClawInstall:
    install, why = find_install()
    if install is None:
        sys.stderr.write(f"\nskipping the real-gateway tests: {why}\n")
        pytest.skip(why)
    return install


@pytest.fixture(scope="session")
def shared_gateway(openclaw_install: OpenClawInstall,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedGateway]:
    """A 2026.9.6 gateway that several read-only tests share (one start-up, ~10 s)."""
    base = tmp_path_factory.mktemp("shared-openclaw")
    with memory_cgroup() as (cgroup, why):
        gw = start_gateway(openclaw_install, base, cgroup=cgroup.path if cgroup else None)
        try:
            yield SharedGateway(gw, cgroup, why)
        finally:
            stop_gateway(gw)


@pytest.fixture
def openclaw_gateway(openclaw_install: OpenClawInstall, tmp_path: Path) -> Iterator[RunningGateway]:
    """A live 2026.9.6 gateway of this test's own (it may stop or break it)."""
    base = tmp_path / "openclaw"
    base.mkdir()
    gw = start_gateway(openclaw_install, base)
    try:
        yield gw
    finally:
        stop_gateway(gw)
