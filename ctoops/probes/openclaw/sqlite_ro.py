"""The one way ctoops opens a gateway database: read-only, never a writer.

OpenClaw's rule is that outside tools may read its SQLite databases but never write
them (OPENCLAW.md). A `file:...?mode=ro` URI makes SQLite refuse writes at the
file level and `query_only` refuses them at the statement level; the busy timeout
is short so a gateway holding a write lock cannot stall an every-minute run.
Callers keep their own transactions and turn `sqlite3.Error` into their findings.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

BUSY_TIMEOUT_S = 2.0


def connect_ro(path: Path, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """An autocommit, read-only connection (raises sqlite3.Error when it cannot open)."""
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout_s,
                           isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn
