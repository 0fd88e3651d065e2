"""Fixtures for the safe-restart tests: a real stand-in gateway process, and the
real OpenClaw install when CTOOPS_OPENCLAW_DIR points at one (else a skip)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.restart.helpers import FakeGateway, free_port


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


