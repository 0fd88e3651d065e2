"""Measure the gateway's memory before and after a restart (R13 step 0/7, R14).

The process tree's RSS (probes/process.find_gateway) and the gateway's cgroup
usage through the shared cgroup probe (`gateway.cgroup`: a folder, or `auto` from
the process). A gateway that cannot be found is a reading with `found=False`,
never an error: the restart goes on regardless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ctoops.config import GatewayConfig


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


def read_cgroup_usage(setting: str, pid: int | None) -> tuple[str | None, int | None]:
    """(cgroup folder, bytes charged to it) through probes/cgroup; (None, None) when
    it cannot be located or read: a measurement gap, not a reason to stop."""
    from ctoops.probes.cgroup import locate, read_cgroup_memory

    if not setting:
        return None, None
    where = locate(setting, pid)
    if where.path is None:
        return None, None
    try:
        return str(where.path), read_cgroup_memory(where.path).usage_bytes
    except (OSError, ValueError):
        return str(where.path), None


def measure(cfg: GatewayConfig) -> MemoryReading:
    from ctoops.probes.process import find_gateway, port_of

    try:
        proc = find_gateway(cfg.unit, cfg.systemd_scope, cfg.process_name,
                            port_of(cfg.health_url))
    except Exception as exc:
        cgroup_path, usage = read_cgroup_usage(cfg.cgroup if cfg.cgroup != "auto" else "", None)
        return MemoryReading(False, cgroup_path=cgroup_path, cgroup_usage_bytes=usage,
                             error=f"process lookup failed: {type(exc).__name__}: {exc}")
    cgroup_path, usage = read_cgroup_usage(cfg.cgroup, proc.pid if proc else None)
    if proc is None:
        return MemoryReading(False, cgroup_path=cgroup_path, cgroup_usage_bytes=usage,
                             error=f"no process found for {cfg.unit} / {cfg.process_name!r}")
    return MemoryReading(True, proc.pid, proc.found_by, proc.create_time, proc.rss_bytes,
                         proc.tree_rss_bytes, cgroup_path, usage)
