"""Regenerate openclaw_schemas.py from real gateways (run by hand, not by pytest).

    CTOOPS_OPENCLAW_DIR=/tmp/gwcache python -m tests.sessions.dump_schemas

Starts 2026.9.6 and 2026.7.1 once each through the integration suite's helpers
(tests/integration/openclaw_gateway.py: own HOME, free port, loopback), waits
for /readyz, stops them by PID, and dumps with python sqlite3 the table and
index definitions of the tables ctoops reads from `state/openclaw.sqlite`.
The agent database only appears once an agent runs, so its definitions
(schema_meta, session_nodes) are taken from the agent schema SQL shipped in the
2026.9.6 dist code, and its user_version from the same code
(tests/integration/test_sqlite_era_live.py checks them against the database a
real agent turn creates).
"""

from __future__ import annotations

import re
import sqlite3
import sys
import tempfile
from pathlib import Path

from tests.integration.openclaw_gateway import find_install, start_gateway, stop_gateway

TABLES = ["task_runs", "subagent_runs", "cron_jobs", "cron_run_receipts", "cron_run_logs",
          "gateway_boot_lifecycle", "state_leases"]
OUT = Path(__file__).with_name("openclaw_schemas.py")


def dump_state_db(path: Path) -> tuple[int, str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        out = []
        for table in TABLES:
            row = con.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                              (table,)).fetchone()
            if row is None:
                continue
            out.append(row[0].strip() + ";")
            out += [sql.strip() + ";" for (sql,) in con.execute(
                "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT "
                "NULL ORDER BY name", (table,))]
        return version, "\n".join(out)
    finally:
        con.close()


def agent_schema(dist: Path) -> tuple[int, str]:
    """schema_meta and session_nodes statements from the shipped agent schema SQL."""
    src = next(p for p in dist.glob("openclaw-agent-board-schema-*.mjs"))
    text = src.read_text(encoding="utf-8")
    literal = re.search(r'const OPENCLAW_AGENT_SCHEMA_SQL = ("(?:[^"\\]|\\.)*")', text)
    if literal is None:
        raise SystemExit(f"agent schema SQL not found in {src}")
    import json

    sql = json.loads(literal.group(1))
    sql = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    keep = [s.strip() + ";" for s in sql.split(";")
            if re.match(r"\s*CREATE TABLE IF NOT EXISTS (schema_meta|session_nodes) ", s)
            or re.match(r"\s*CREATE (UNIQUE )?INDEX IF NOT EXISTS \w+\s+ON session_nodes\(", s)]
    contract = next(dist.glob("openclaw-agent-db-contract-*.mjs")).read_text(encoding="utf-8")
    version = re.search(r"OPENCLAW_AGENT_SCHEMA_VERSION = (\d+)", contract)
    if version is None:
        raise SystemExit("agent schema version not found")
    return int(version.group(1)), "\n\n".join(keep)


def _lit(sql: str) -> str:
    return 'r"""\n' + sql + '\n"""'


def main() -> int:
    install, why = find_install()
    if install is None:
        print(why, file=sys.stderr)
        return 2
    states = {}
    with tempfile.TemporaryDirectory(prefix="ctoops-schemas-") as tmp:
        for release, folder in (("2026.9.6", "gw96"), ("2026.7.1", "gw71")):
            (Path(tmp) / folder).mkdir()
            gw = start_gateway(install, Path(tmp) / folder, folder)
            stop_gateway(gw)
            states[release] = dump_state_db(gw.state_dir / "state" / "openclaw.sqlite")
    dist = install.openclaw("gw96").parent / "dist"
    agent_version, agent_sql = agent_schema(dist)
    (v96, s96), (v71, s71) = states["2026.9.6"], states["2026.7.1"]
    OUT.write_text(f'''# ruff: noqa: E501  (generated: the gateway's own DDL, verbatim)
"""The gateway's real table definitions for the tables ctoops reads (generated).

Dumped with python sqlite3 (`SELECT sql FROM sqlite_master`) from databases that
real gateways created when started once with `--dev gateway run` on loopback:
openclaw@2026.9.6 (state DB user_version {v96}) and openclaw@2026.7.1 (state DB
user_version {v71}). The agent database's definitions (user_version {agent_version} in
2026.9.6, the version its code sets) are the schema_meta and session_nodes
statements of the gateway's agent schema SQL, as shipped in its dist code.
Regenerate with `python -m tests.sessions.dump_schemas` when a release is added.
"""

STATE_DB_2026_9_6_USER_VERSION = {v96}
STATE_DB_2026_9_6 = {_lit(s96)}

STATE_DB_2026_7_1_USER_VERSION = {v71}
STATE_DB_2026_7_1 = {_lit(s71)}

AGENT_DB_2026_9_6_USER_VERSION = {agent_version}
AGENT_DB_2026_9_6 = {_lit(agent_sql)}
''', encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
