"""Fixtures for zombie-report: the fake gateway (see zombie_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.zombie.zombie_support import FakeGateway, start_fake_gateway


@pytest.fixture
def fake_gateway(tmp_path: Path) -> Iterator[FakeGateway]:
    folder = tmp_path / "fakegw"
    folder.mkdir()
    gw = start_fake_gateway(folder)
    try:
        yield gw
    finally:
        if gw.proc.poll() is None:
            gw.kill()
