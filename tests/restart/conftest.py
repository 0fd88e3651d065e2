"""Fixtures for the safe-restart tests: a real stand-in gateway process (the real
OpenClaw gateway's tests live in tests/integration/)."""

from __future__ import annotations

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
