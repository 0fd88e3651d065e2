"""Host CPU, load, memory, swap, disk IO and disk space (R1), read through psutil.

Counters, not rates. CPU percent and IO rates are deltas between this run's
cumulative counters and the previous run's, which the command keeps in the
state: sampling over an interval would make every run sleep, and a pair of
counters a minute apart gives the average over the whole minute, which is what
a per-minute check should judge. `read_host` only reads; `cpu_percent_between`
and `io_rates_between` are the pure halves that compare two readings.

The /proc and /sys roots are parameters (node_exporter's --path.procfs and
--path.sysfs), so tests hand in real-layout trees and a container can watch its
host. psutil is imported inside `read_host`: importing this module costs nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIPPED_DISK_PREFIXES = ("loop", "ram")  # not storage: they would only add noise


@dataclass(frozen=True)
class DiskCounters:
    """Cumulative counters of one whole block device (not a partition)."""

    read_bytes: int
    write_bytes: int
    read_count: int
    write_count: int
    busy_time_ms: int  # time the device had IO in flight (iostat's %util numerator)


@dataclass(frozen=True)
class HostSample:
    boot_time: float  # epoch seconds; a change means every counter restarted
    cpu_count: int
    cpu_busy_s: float  # cumulative over all CPUs since boot (idle and iowait excluded)
    cpu_total_s: float  # cumulative over all CPUs since boot (guest time excluded)
    load_1m: float
    load_5m: float
    load_15m: float
    memory_total_bytes: int
    memory_available_bytes: int
    memory_percent: float  # (total - available) / total, as `free` would explain it
    swap_total_bytes: int
    swap_used_bytes: int
    swap_percent: float | None  # None: the host has no swap
    disks: dict[str, DiskCounters]
    disk_path: str  # the folder whose filesystem was measured (the workspace)
    disk_total_bytes: int
    disk_used_bytes: int
    disk_free_bytes: int  # free for an unprivileged user, like `df`
    disk_percent: float  # used / (used + free), like `df`

    def counters(self) -> dict[str, Any]:
        """What the next run needs to compute rates (kept in the state)."""
        return {"boot_time": self.boot_time, "cpu_busy_s": self.cpu_busy_s,
                "cpu_total_s": self.cpu_total_s,
                "disks": {name: [d.read_bytes, d.write_bytes, d.read_count, d.write_count,
                                 d.busy_time_ms] for name, d in self.disks.items()}}


@dataclass(frozen=True)
class IoRates:
    window_s: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_ops_per_s: float
    write_ops_per_s: float
    busy_percent: float  # the busiest disk's share of the window with IO in flight
    busiest_disk: str


def _whole_disks(names: list[str], sysfs: Path) -> list[str]:
    block = sysfs / "block"
    try:
        whole = set(os.listdir(block))
    except OSError:
        whole = None  # no /sys/block to ask: keep every name psutil listed
    return [n for n in names if not n.startswith(SKIPPED_DISK_PREFIXES)
            and (whole is None or n.replace("/", "!") in whole)]


def _loadavg(procfs: Path) -> tuple[float, float, float]:
    try:
        parts = (procfs / "loadavg").read_text(encoding="ascii").split()
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (OSError, ValueError, IndexError):
        return os.getloadavg()


def _cpu_count(procfs: Path) -> int | None:
    """Online CPUs as /proc/stat lists them (one `cpuN` line each), so the load per
    core uses the same host as the load itself."""
    try:
        lines = (procfs / "stat").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    count = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return count or None


def read_host(disk_path: Path, procfs: Path = Path("/proc"), sysfs: Path = Path("/sys")
              ) -> HostSample:
    """One reading of the host. Raises OSError/RuntimeError when /proc cannot be
    read: without these numbers the check cannot judge (exit 3)."""
    import psutil

    previous = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(procfs)
    try:
        times = psutil.cpu_times()
        boot_time = psutil.boot_time()
        vm = psutil.virtual_memory()
        swap = psutil.swap_memory()
        io = psutil.disk_io_counters(perdisk=True) or {}
    finally:
        psutil.PROCFS_PATH = previous
    du = psutil.disk_usage(str(disk_path))
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    total = sum(times) - guest  # guest time is already counted in user/nice
    busy = total - times.idle - getattr(times, "iowait", 0.0)
    whole = _whole_disks(list(io), sysfs)
    disks = {name: DiskCounters(c.read_bytes, c.write_bytes, c.read_count, c.write_count,
                                int(getattr(c, "busy_time", 0)))
             for name, c in io.items() if name in whole}
    load = _loadavg(procfs)
    return HostSample(
        boot_time=float(boot_time), cpu_count=_cpu_count(procfs) or psutil.cpu_count() or 1,
        cpu_busy_s=float(busy), cpu_total_s=float(total),
        load_1m=load[0], load_5m=load[1], load_15m=load[2],
        memory_total_bytes=int(vm.total), memory_available_bytes=int(vm.available),
        memory_percent=float(vm.percent),
        swap_total_bytes=int(swap.total), swap_used_bytes=int(swap.used),
        swap_percent=float(swap.percent) if swap.total else None,
        disks=disks, disk_path=str(disk_path), disk_total_bytes=int(du.total),
        disk_used_bytes=int(du.used), disk_free_bytes=int(du.free),
        disk_percent=float(du.percent))


def _same_boot(previous: dict[str, Any] | None, sample: HostSample) -> bool:
    return bool(previous) and abs(float(previous.get("boot_time", -1)) - sample.boot_time) < 2.0


def cpu_percent_between(previous: dict[str, Any] | None, sample: HostSample) -> float | None:
    """Average CPU use since the previous run; None on the first run, after a
    reboot, or when the counters did not move (nothing to average over)."""
    if not _same_boot(previous, sample):
        return None
    assert previous is not None
    d_total = sample.cpu_total_s - float(previous.get("cpu_total_s", 0.0))
    d_busy = sample.cpu_busy_s - float(previous.get("cpu_busy_s", 0.0))
    if d_total <= 0 or d_busy < 0:
        return None
    return round(min(100.0, max(0.0, 100.0 * d_busy / d_total)), 1)


def io_rates_between(previous: dict[str, Any] | None, sample: HostSample,
                     window_s: float) -> IoRates | None:
    """IO rates over `window_s` seconds since the previous run's counters."""
    if not _same_boot(previous, sample) or window_s <= 0:
        return None
    assert previous is not None
    before = previous.get("disks") or {}
    sums = [0, 0, 0, 0]
    busiest, busiest_pct = "", 0.0
    for name, now_c in sample.disks.items():
        old = before.get(name)
        if not isinstance(old, list) or len(old) != 5:
            continue
        deltas = [now_c.read_bytes - old[0], now_c.write_bytes - old[1],
                  now_c.read_count - old[2], now_c.write_count - old[3],
                  now_c.busy_time_ms - old[4]]
        if min(deltas) < 0:
            continue  # a counter wrapped or the device was replaced
        for i in range(4):
            sums[i] += deltas[i]
        pct = min(100.0, 100.0 * deltas[4] / (window_s * 1000.0))
        if pct > busiest_pct or not busiest:
            busiest, busiest_pct = name, pct
    return IoRates(round(window_s, 3), round(sums[0] / window_s, 1), round(sums[1] / window_s, 1),
                   round(sums[2] / window_s, 2), round(sums[3] / window_s, 2),
                   round(busiest_pct, 1), busiest)
