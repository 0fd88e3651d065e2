"""Write gateway log lines in the exact shape a real OpenClaw gateway writes them.

The shape was read off a real 2026.9.6 gateway (tests/storm/fixtures/
real-gateway-lines.log holds lines it wrote; test_storm_gatewaylog checks this
generator against them key for key): the root logger puts the text in "0" and
`_meta.name` = "openclaw" with a `path` block; a subsystem logger puts its
`{"subsystem":...}` JSON in "0" and `_meta.name`, the text in "1", and lists
`parentNames`. Both carry `time` (local ISO with offset), `hostname`, `message`.
Also used by benchmarks/retry_storm.py.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

LEVEL_IDS = {"TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "ERROR": 5, "FATAL": 6}


def gateway_line(ts: float, level: str, message: str, subsystem: str | None = None) -> bytes:
    """One log line, newline included."""
    when = datetime.fromtimestamp(ts, UTC)
    meta: dict[str, object] = {"runtime": "node", "runtimeVersion": "24.22.3", "hostname": "vm",
                               "date": when.isoformat(timespec="milliseconds").replace(
                                   "+00:00", "Z"),
                               "logLevelId": LEVEL_IDS[level], "logLevelName": level}
    if subsystem is None:
        meta["name"] = "openclaw"
        meta["path"] = {"fullFilePath": "file:///usr/lib/node_modules/openclaw/dist/"
                                        "console-DwqfhE-H.mjs:184:29",
                        "fileName": "console-DwqfhE-H.mjs", "method": "console.error"}
        record: dict[str, object] = {"0": message, "_meta": meta}
    else:
        name = json.dumps({"subsystem": subsystem}, separators=(",", ":"))
        meta["name"] = name
        meta["parentNames"] = ["openclaw"]
        record = {"0": name, "1": message, "_meta": meta}
    record["time"] = when.isoformat(timespec="milliseconds")
    record["hostname"] = "vm"
    record["message"] = message
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def log_name(day: str, prefix: str = "openclaw", rotation: int = 0) -> str:
    return f"{prefix}-{day}.{rotation}.log" if rotation else f"{prefix}-{day}.log"


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def errors(ts: float, count: int, message: str = "provider request req_{i:08x} failed: "
           "HTTP 502 after {n} ms", subsystem: str | None = "agent", step: float = 1.0) -> bytes:
    """`count` ERROR lines of one failure, each with its own id and numbers."""
    return b"".join(gateway_line(ts + i * step, "ERROR",
                                 message.format(i=0x1a2b3c4d + i * 7919, n=200 + i * 13),
                                 subsystem) for i in range(count))


def rotate_by_size(path: Path) -> Path:
    """What the gateway does at its size cap: the live file becomes `.1.log` (older
    rotations shift up), and the next write creates a new file under the name."""
    stem = path.name[:-len(".log")]
    for index in range(4, 0, -1):
        older = path.with_name(f"{stem}.{index}.log")
        if older.exists():
            os.rename(older, path.with_name(f"{stem}.{index + 1}.log"))
    target = path.with_name(f"{stem}.1.log")
    os.rename(path, target)
    return target
