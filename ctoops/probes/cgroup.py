"""The gateway's memory cgroup (R1, R12): usage against its high watermark.

P1b compares the cgroup's usage with its *high watermark*: systemd's
`MemoryHigh=`, which is `memory.high` on cgroup v2 and, on cgroup v1, the soft
limit (`memory.soft_limit_in_bytes`, the limit the kernel reclaims towards under
pressure). v2 is read first, v1 as the fallback, from whatever folder is handed
in, so tests give it real-layout trees and `gateway.cgroup` may name any folder.

"No limit" is spelled `max` on v2 and as a huge number on v1 (PAGE_COUNTER_MAX
pages, 9223372036854771712 with 4 KiB pages): both read as None here, so the
ratio is undefined rather than a meaningless 0.000001.

Both versions count page cache in the usage (`memory.current`,
`memory.usage_in_bytes`); the anon/file split from memory.stat says how much of
it is the gateway's own heap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ctoops.probes.pressure import PsiResource, parse_psi

NO_LIMIT_FLOOR = 1 << 60  # 1 EiB: anything this large is a "no limit" sentinel


@dataclass(frozen=True)
class CgroupMemory:
    path: str
    version: int  # 1 or 2
    usage_bytes: int
    high_bytes: int | None  # the high watermark; None: none set
    max_bytes: int | None  # the hard limit (v2 memory.max, v1 limit_in_bytes); None: none
    high_events: int | None  # v2: times usage went over memory.high
    max_events: int | None  # v2: times usage hit memory.max
    oom_kills: int | None  # processes the OOM killer took in this cgroup
    failcnt: int | None  # v1: times usage hit the hard limit
    anon_bytes: int | None  # v2 anon / v1 total_rss: heap and stacks
    file_bytes: int | None  # v2 file / v1 total_cache: page cache
    pressure: PsiResource | None  # v2 memory.pressure


@dataclass(frozen=True)
class CgroupLocation:
    """Where the gateway's memory cgroup is, or why it could not be found."""

    path: Path | None
    how: str  # configured | /proc/<pid>/cgroup
    problem: str = ""


def limit_value(text: str) -> int | None:
    """A limit file's value: None for `max` or a no-limit sentinel."""
    value = text.strip()
    if value == "max":
        return None
    number = int(value)
    if number < 0:
        raise ValueError(f"negative limit {number}")
    return None if number >= NO_LIMIT_FLOOR else number


def _read_int(path: Path) -> int:
    text = path.read_text(encoding="ascii").strip()
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"{path}: expected an integer, got {text[:40]!r}") from exc


def _read_limit(path: Path) -> int | None:
    try:
        return limit_value(path.read_text(encoding="ascii"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _flat_keyed(path: Path) -> dict[str, int]:
    """A `key value` per line file (memory.events, memory.stat, memory.oom_control)."""
    out: dict[str, int] = {}
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _pressure(path: Path) -> PsiResource | None:
    try:
        return parse_psi(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None  # PSI is a bonus here; the memory numbers are what P1b needs


def read_cgroup_memory(path: Path) -> CgroupMemory:
    """Read a memory cgroup folder (v2 first, v1 fallback). Raises OSError when it
    cannot be read and ValueError when it is not a memory cgroup or a file is garbled."""
    if (path / "memory.current").exists():
        events = _flat_keyed(path / "memory.events")
        stat = _flat_keyed(path / "memory.stat")
        return CgroupMemory(
            str(path), 2, _read_int(path / "memory.current"),
            _read_limit(path / "memory.high"), _read_limit(path / "memory.max"),
            events.get("high"), events.get("max"), events.get("oom_kill"), None,
            stat.get("anon"), stat.get("file"), _pressure(path / "memory.pressure"))
    if (path / "memory.usage_in_bytes").exists():
        stat = _flat_keyed(path / "memory.stat")
        oom = _flat_keyed(path / "memory.oom_control")
        return CgroupMemory(
            str(path), 1, _read_int(path / "memory.usage_in_bytes"),
            _read_limit(path / "memory.soft_limit_in_bytes"),
            _read_limit(path / "memory.limit_in_bytes"), None, None, oom.get("oom_kill"),
            _read_int(path / "memory.failcnt") if (path / "memory.failcnt").exists() else None,
            stat.get("total_rss", stat.get("rss")), stat.get("total_cache", stat.get("cache")),
            None)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such cgroup folder")
    raise ValueError(f"{path}: not a memory cgroup (no memory.current or memory.usage_in_bytes)")


def locate(setting: str, pid: int | None, procfs: Path = Path("/proc"),
           cgroup_root: Path = Path("/sys/fs/cgroup")) -> CgroupLocation:
    """`gateway.cgroup`: a folder (used as given; no PID needed) or `auto`: the
    gateway PID's memory cgroup from <procfs>/<pid>/cgroup under `cgroup_root`."""
    if setting != "auto":
        return CgroupLocation(Path(setting), "configured")
    if pid is None:
        return CgroupLocation(None, "auto", "the gateway process was not found, so its "
                              "cgroup is unknown (set gateway.cgroup to a folder to watch it "
                              "without a PID)")
    source = procfs / str(pid) / "cgroup"
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        return CgroupLocation(None, str(source), f"cannot read {source}: {exc.strerror or exc}")
    v1_path = v2_path = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if "memory" in parts[1].split(","):
            v1_path = parts[2]
        elif parts[0] == "0" and parts[1] == "":
            v2_path = parts[2]
    candidates: list[Path] = []
    if v1_path is not None:  # hybrid hosts bind the memory controller to v1
        candidates.append(cgroup_root / "memory" / v1_path.lstrip("/"))
    if v2_path is not None:
        candidates += [cgroup_root / v2_path.lstrip("/"), cgroup_root / "unified" / v2_path.lstrip("/")]
    for folder in candidates:
        if (folder / "memory.current").exists() or (folder / "memory.usage_in_bytes").exists():
            return CgroupLocation(folder, str(source))
    tried = ", ".join(str(c) for c in candidates) or "no memory or v2 line"
    return CgroupLocation(None, str(source), f"no memory cgroup found for PID {pid} ({tried})")
