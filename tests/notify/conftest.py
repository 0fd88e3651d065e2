"""Fixtures of the notification tests (helpers live in support.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def down_url() -> str:
    """A webhook URL on a 127.0.0.1 port nobody listens on (connection refused)."""
    from tests.fakes.discord_server import FakeDiscord

    fake = FakeDiscord()
    url = fake.webhook_url
    fake.close()
    return url
