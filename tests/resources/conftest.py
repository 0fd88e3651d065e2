"""Real-layout trees for the resources tests: a /proc and /sys the host probe reads
through psutil, cgroup v1 and v2 memory folders, and the fake pynvml module."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO, Ran, run_ctoops, write_config

FAKE_NVML_DIR = Path(__file__).resolve().parent / "fake_nvml"
GIB = 1 << 30


class FakeHost:
    """/proc and /sys files laid out as the kernel writes them, with knobs."""

    def __init__(self, root: Path) -> None:
        self.procfs = root / "proc"
        self.sysfs = root / "sys"
        (self.procfs / "pressure").mkdir(parents=True)
        (self.sysfs / "block" / "sda").mkdir(parents=True)
        (self.sysfs / "block" / "loop0").mkdir(parents=True)
        self.ticks = {"user": 100_000, "system": 50_000, "idle": 800_000, "iowait": 10_000}
        self.disk = [1000, 2000, 50_000, 100_000, 1_500]  # reads, writes, rsect, wsect, busy ms
        self.btime = 1_700_000_000
        self.memory(40.0)
        self.swap(total_kb=1_000_000, used_percent=10.0)
        self.write_stat()
        self.write_diskstats()
        (self.procfs / "loadavg").write_text("1.50 1.00 0.50 2/300 4242\n")
        (self.procfs / "vmstat").write_text("pswpin 0\npswpout 0\n")
        for name in ("cpu", "memory", "io"):
            self.psi(name, 1.0)

    def memory(self, used_percent: float, total_kb: int = 8 * 1024 * 1024) -> None:
        self.mem_total_kb = total_kb
        self.mem_available_kb = int(total_kb * (100.0 - used_percent) / 100.0)
        self._write_meminfo()

    def swap(self, total_kb: int, used_percent: float) -> None:
        self.swap_total_kb = total_kb
        self.swap_free_kb = int(total_kb * (100.0 - used_percent) / 100.0)
        if hasattr(self, "mem_total_kb"):
            self._write_meminfo()

    def _write_meminfo(self) -> None:
        t, a = self.mem_total_kb, self.mem_available_kb
        swap_total = getattr(self, "swap_total_kb", 0)
        swap_free = getattr(self, "swap_free_kb", 0)
        rows = {"MemTotal": t, "MemFree": a // 2, "MemAvailable": a, "Buffers": 1000,
                "Cached": a // 4, "SwapCached": 0, "Active": t // 4, "Inactive": t // 8,
                "Shmem": 1000, "SReclaimable": 2000, "SwapTotal": swap_total,
                "SwapFree": swap_free}
        (self.procfs / "meminfo").write_text(
            "".join(f"{k}:{v:>16} kB\n" for k, v in rows.items()))

    def cpu(self, busy_percent: float, ticks: int = 10_000) -> None:
        """Advance the cumulative counters as if `busy_percent` was used since the last run."""
        busy = int(ticks * busy_percent / 100.0)
        self.ticks["user"] += busy
        self.ticks["idle"] += ticks - busy
        self.write_stat()

    def write_stat(self) -> None:
        t = self.ticks
        line = f"{t['user']} 0 {t['system']} {t['idle']} {t['iowait']} 0 0 0 0 0"
        (self.procfs / "stat").write_text(
            f"cpu  {line}\ncpu0 {line}\nintr 0\nctxt 0\nbtime {self.btime}\n"
            "processes 1\nprocs_running 1\nprocs_blocked 0\n")

    def io(self, busy_ms: int, read_sectors: int = 2048, write_sectors: int = 4096) -> None:
        self.disk[0] += 10
        self.disk[1] += 20
        self.disk[2] += read_sectors
        self.disk[3] += write_sectors
        self.disk[4] += busy_ms
        self.write_diskstats()

    def write_diskstats(self) -> None:
        r, w, rs, ws, busy = self.disk
        row = f"{r} 0 {rs} 50 {w} 0 {ws} 60 0 {busy} 110"
        (self.procfs / "diskstats").write_text(
            f"   8       0 sda {row}\n   8       1 sda1 {row}\n   7       0 loop0 {row}\n")

    def psi(self, name: str, some_avg60: float, full_avg60: float = 0.0) -> None:
        (self.procfs / "pressure" / name).write_text(
            f"some avg10=0.00 avg60={some_avg60:.2f} avg300=0.00 total=1234\n"
            f"full avg10=0.00 avg60={full_avg60:.2f} avg300=0.00 total=99\n")

    def nvidia_driver(self) -> None:
        """Make the NVIDIA driver look loaded, so the GPU probe goes on to (fake) NVML."""
        (self.procfs / "driver" / "nvidia").mkdir(parents=True, exist_ok=True)
        (self.procfs / "driver" / "nvidia" / "version").write_text("NVRM version: 550.54.15\n")

    def config(self) -> dict[str, Any]:
        return {"procfs_path": str(self.procfs), "sysfs_path": str(self.sysfs)}


def cgroup_v2(folder: Path, current: int, high: int | str = "max", maximum: int | str = "max",
              events: dict[str, int] | None = None) -> Path:
    """A cgroup v2 folder as systemd leaves it for a unit with MemoryHigh=."""
    folder.mkdir(parents=True, exist_ok=True)
    ev = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0, "oom_group_kill": 0,
          **(events or {})}
    files = {"memory.current": f"{current}\n", "memory.high": f"{high}\n",
             "memory.max": f"{maximum}\n", "memory.min": "0\n", "memory.low": "0\n",
             "memory.events": "".join(f"{k} {v}\n" for k, v in ev.items()),
             "memory.stat": f"anon {current * 3 // 4}\nfile {current // 4}\nkernel 4096\n",
             "memory.pressure": "some avg10=0.00 avg60=2.50 avg300=0.00 total=10\n"
                                "full avg10=0.00 avg60=1.25 avg300=0.00 total=5\n",
             "cgroup.procs": "", "cgroup.controllers": "memory pids\n"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def cgroup_v1(folder: Path, usage: int, soft: int = 9223372036854771712,
              limit: int = 9223372036854771712, failcnt: int = 0) -> Path:
    """A cgroup v1 memory-controller folder (the layout of /sys/fs/cgroup/memory/...)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"memory.usage_in_bytes": f"{usage}\n", "memory.soft_limit_in_bytes": f"{soft}\n",
             "memory.limit_in_bytes": f"{limit}\n", "memory.failcnt": f"{failcnt}\n",
             "memory.max_usage_in_bytes": f"{usage}\n",
             "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
             "memory.stat": f"cache {usage // 4}\nrss {usage // 2}\n"
                            f"total_cache {usage // 4}\ntotal_rss {usage * 3 // 4}\n",
             "cgroup.procs": "", "tasks": ""}
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def fake_host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path / "host")


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The fake pynvml, installed in sys.modules for in-process tests."""
    spec = importlib.util.spec_from_file_location("pynvml", FAKE_NVML_DIR / "pynvml.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    yield module


def resources_config(workspace: Path, fake: FakeHost | None, **sections: Any) -> None:
    """The workspace fixture's config plus hermetic resources/gateway settings: no
    real gateway is found by name or unit, and restarts do not wait on health."""
    import yaml

    data = yaml.safe_load((workspace / "config" / "ctoops.yaml").read_text())
    gw = data.setdefault("gateway", {})
    gw.update({"unit": "ctoops-test-no-such-unit", "process_name": "ctoops-test-no-such-proc",
               "ready_timeout_s": 1, "settle_s": 0, "probe_timeout_s": 0.5})
    res = data.setdefault("resources", {})
    res["disk_percent"] = {"medium": 100.0, "high": 100.0, "clear": 99.9}  # the real disk
    if fake is not None:
        res.update(fake.config())
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    write_config(workspace, data)


@pytest.fixture
def run_check(workspace: Path) -> Callable[..., Ran]:
    """`ctoops [--json] check resources ...` against the workspace, with the fake
    pynvml first on PYTHONPATH (configured by CTOOPS_FAKE_NVML, default: no driver),
    each run a minute after the previous one on the pinned clock (CTOOPS_FAKE_NOW),
    as under the timer."""
    nvml_cfg = workspace.parent / "nvml.json"
    if not nvml_cfg.exists():
        nvml_cfg.write_text('{"init_error": 12}')
    clock = [float(int(time.time()))]

    def _run(*args: str, json_out: bool = True, env: dict[str, str] | None = None) -> Ran:
        clock[0] += 60.0
        extra = {"PYTHONPATH": os.pathsep.join([str(FAKE_NVML_DIR), str(REPO)]),
                 "CTOOPS_FAKE_NVML": str(nvml_cfg), "CTOOPS_FAKE_NOW": str(clock[0]),
                 **(env or {})}
        argv = (["--json"] if json_out else []) + list(args)
        return run_ctoops(argv, root=workspace, env=extra)

    return _run
