"""The gateway's own liveness record (SQLite era): the `gateway-owner` lease.

Checked on a real 2026.9.6 gateway: `state/openclaw.sqlite` table `state_leases`
(`scope`, `lease_key`, `owner`, `expires_at`, `heartbeat_at`, `payload_json`,
`created_at`, `updated_at`, all times epoch ms) holds one row with scope
`gateway-owner`, key `global`. The gateway renews it every 30 s from a worker
thread with a 300 s time to live, and deletes it on a clean stop. Its payload names
the owner process: `{"owner": {"pid", "host", "startedAt"}, "port", "mode", ...}`,
where `startedAt` is the process start time in clock ticks (field 22 of
/proc/<pid>/stat), so a recycled PID can be told apart from the owner.

Read-only (`mode=ro` URI), one short query, a short busy timeout: the database is
the gateway's, and a stopped gateway must not stall this probe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SCOPE, KEY = "gateway-owner", "global"
DB_RELPATH = Path("state") / "openclaw.sqlite"


@dataclass(frozen=True)
class OwnerLease:
    status: str  # ok | no_database | no_table | no_row | unreadable
    db_path: str
    owner: str = ""
    heartbeat_at_ms: int | None = None
    expires_at_ms: int | None = None
    pid: int | None = None
    host: str = ""
    started_at_ticks: int | None = None
    port: int | None = None
    mode: str = ""
    error: str = ""

    def expired(self, now: float) -> bool:
        """True when the gateway stopped renewing its lease (a row with no expiry
        counts as expired, as the gateway itself reads it)."""
        if self.status != "ok":
            return False
        return self.expires_at_ms is None or self.expires_at_ms <= now * 1000.0

    def heartbeat_age_s(self, now: float) -> float | None:
        if self.heartbeat_at_ms is None:
            return None
        return max(0.0, now - self.heartbeat_at_ms / 1000.0)


def read_owner_lease(state_dir: Path, timeout_s: float = 1.0) -> OwnerLease:
    """The lease row under `state_dir` (the gateway's state root), read-only."""
    db = state_dir / DB_RELPATH
    if not db.is_file():
        return OwnerLease("no_database", str(db))
    import sqlite3  # only when there is a database (file-era hosts never pay for it)

    from ctoops.probes.openclaw.sqlite_ro import connect_ro

    try:
        conn = connect_ro(db, timeout_s)
    except sqlite3.Error as exc:
        return OwnerLease("unreadable", str(db), error=str(exc))
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='state_leases'"
                        ).fetchone() is None:
            return OwnerLease("no_table", str(db))
        row = conn.execute(
            "SELECT owner, heartbeat_at, expires_at, payload_json FROM state_leases "
            "WHERE scope = ? AND lease_key = ?", (SCOPE, KEY)).fetchone()
    except sqlite3.Error as exc:
        return OwnerLease("unreadable", str(db), error=str(exc))
    finally:
        conn.close()
    if row is None:
        return OwnerLease("no_row", str(db))
    owner, heartbeat_at, expires_at, payload_json = row
    payload = _payload(payload_json)
    proc = payload.get("owner") if isinstance(payload.get("owner"), dict) else {}
    return OwnerLease("ok", str(db), str(owner), _int(heartbeat_at), _int(expires_at),
                      _int(proc.get("pid")), str(proc.get("host") or ""),
                      _int(proc.get("startedAt")), _int(payload.get("port")),
                      str(payload.get("mode") or ""))


def _payload(text: object) -> dict[str, object]:
    if not isinstance(text, str):
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def process_start_ticks(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), None when gone."""
    try:
        raw = (proc_root / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 overall = index 19 after the name
    except (IndexError, ValueError):
        return None
