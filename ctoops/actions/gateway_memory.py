"""Measure the gateway's memory before and after a restart (R13 step 0/7, R14).

The process tree's RSS (probes/process.find_gateway) and, when `gateway.cgroup`
names a folder, that cgroup's usage read directly from `memory.current` (v2) or
`memory.usage_in_bytes` (v1). Deliberately tiny and local: the full cgroup probe
(discovery, watermarks, v1/v2 trees) is `probes/cgroup.py`'s job; this only needs
one number from a folder it is handed. A gateway that cannot be found is a
reading with `found=False`, never an error: the restart goes on regardless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ctoops.config import GatewayConfig

CGROUP_USAGE_FILES = ("memory.current", "memory.usage_in_bytes")


@dataclass(frozen=True)
class MemoryReading:
    found: bool
    pid: int | None = None
    found_by: str | None = None
    create_time: float | None = None
    rss_bytes: int | None = None
    tree_rss_bytes: int | None = None
    cgroup_path: str | None = None
    cgroup_usage_bytes: int | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_cgroup_usage(folder: Path) -> int | None:
    """Bytes charged to a cgroup folder (v2 `memory.current`, else v1
    `memory.usage_in_bytes`); None when neither file reads as a number."""
    for name in CGROUP_USAGE_FILES:
        try:
            text = (folder / name).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit():
            return int(text)
    return None


def measure(cfg: GatewayConfig) -> MemoryReading:
    from ctoops.probes.process import find_gateway

    cgroup = Path(cfg.cgroup).expanduser() if cfg.cgroup not in ("", "auto") else None
    usage = read_cgroup_usage(cgroup) if cgroup is not None and cgroup.is_dir() else None
    cgroup_path = str(cgroup) if usage is not None else None
    try:
        proc = find_gateway(cfg.unit, cfg.systemd_scope, cfg.process_name)
    except Exception as exc:  # psutil can fail in odd ways on a stressed host
        return MemoryReading(False, cgroup_path=cgroup_path, cgroup_usage_bytes=usage,
                             error=f"process lookup failed: {type(exc).__name__}: {exc}")
    if proc is None:
        return MemoryReading(False, cgroup_path=cgroup_path, cgroup_usage_bytes=usage,
                             error=f"no process found for {cfg.unit} / {cfg.process_name!r}")
    return MemoryReading(True, proc.pid, proc.found_by, proc.create_time, proc.rss_bytes,
                         proc.tree_rss_bytes, cgroup_path, usage)
