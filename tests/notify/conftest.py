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


@pytest.fixture
def fake_logger(tmp_path):
    """A `logger` first on PATH that records its argv in a file (a real process),
    so tests that use the syslog channel never write to the host's syslog.
    Returns (env for the child, the record file)."""
    import os
    import sys

    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    record = tmp_path / "logger.argv"
    logger = bindir / "logger"
    logger.write_text(f"#!{sys.executable}\nimport sys\n"
                      f"open({str(record)!r}, 'a').write(repr(sys.argv[1:]) + '\\n')\n")
    logger.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, record
