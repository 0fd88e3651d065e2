"""The probes read real-layout trees: cgroup v1 and v2 folders, /proc, /proc/pressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctoops.probes.cgroup import locate, read_cgroup_memory
from ctoops.probes.host import cpu_percent_between, io_rates_between, read_host
from ctoops.probes.pressure import parse_psi, read_pressure
from tests.resources.conftest import GIB, FakeHost, cgroup_v1, cgroup_v2

NO_LIMIT_V1 = 9223372036854771712


# --- cgroup v2 -------------------------------------------------------------------
def test_r12_cgroup_v2_reads_usage_high_max_events_and_pressure(tmp_path: Path) -> None:
    folder = cgroup_v2(tmp_path / "system.slice" / "openclaw-gateway.service",
                       current=int(1.7 * GIB), high=2 * GIB, maximum=3 * GIB,
                       events={"high": 12, "max": 1, "oom_kill": 3})
    m = read_cgroup_memory(folder)
    assert (m.version, m.usage_bytes, m.high_bytes, m.max_bytes) == (2, int(1.7 * GIB), 2 * GIB,
                                                                     3 * GIB)
    assert (m.high_events, m.max_events, m.oom_kills, m.failcnt) == (12, 1, 3, None)
    assert m.anon_bytes == int(1.7 * GIB) * 3 // 4 and m.file_bytes == int(1.7 * GIB) // 4
    assert m.pressure is not None and m.pressure.some is not None
    assert m.pressure.some.avg60_percent == 2.5 and m.pressure.full.avg60_percent == 1.25


def test_r12_cgroup_v2_max_means_no_watermark(tmp_path: Path) -> None:
    m = read_cgroup_memory(cgroup_v2(tmp_path / "cg", current=5000))
    assert m.high_bytes is None and m.max_bytes is None


def test_r12_cgroup_v2_missing_optional_files_read_as_none(tmp_path: Path) -> None:
    folder = cgroup_v2(tmp_path / "cg", current=5000, high=10000)
    for name in ("memory.events", "memory.stat", "memory.pressure"):
        (folder / name).unlink()
    m = read_cgroup_memory(folder)
    assert (m.usage_bytes, m.high_bytes, m.oom_kills, m.anon_bytes, m.pressure) == (
        5000, 10000, None, None, None)


# --- cgroup v1 -------------------------------------------------------------------
def test_r12_cgroup_v1_soft_limit_is_the_high_watermark(tmp_path: Path) -> None:
    folder = cgroup_v1(tmp_path / "memory" / "system.slice" / "openclaw-gateway.service",
                       usage=900 << 20, soft=1 << 30, limit=2 << 30, failcnt=7)
    m = read_cgroup_memory(folder)
    assert (m.version, m.usage_bytes, m.high_bytes, m.max_bytes, m.failcnt, m.oom_kills) == (
        1, 900 << 20, 1 << 30, 2 << 30, 7, 2)
    assert m.anon_bytes == (900 << 20) * 3 // 4 and m.file_bytes == (900 << 20) // 4


def test_r12_cgroup_v1_huge_numbers_mean_no_limit(tmp_path: Path) -> None:
    m = read_cgroup_memory(cgroup_v1(tmp_path / "cg", usage=123, soft=NO_LIMIT_V1,
                                     limit=NO_LIMIT_V1))
    assert m.high_bytes is None and m.max_bytes is None


# --- bad input: clear errors -----------------------------------------------------------
def test_cgroup_folder_that_is_not_a_memory_cgroup_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cg").mkdir()
    with pytest.raises(ValueError, match="not a memory cgroup"):
        read_cgroup_memory(tmp_path / "cg")


def test_cgroup_folder_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such cgroup folder"):
        read_cgroup_memory(tmp_path / "gone")


@pytest.mark.parametrize("name,text", [("memory.current", "lots\n"), ("memory.high", "-5\n"),
                                       ("memory.max", "12kB\n")])
def test_cgroup_garbled_file_is_a_clear_error_naming_it(tmp_path: Path, name: str,
                                                         text: str) -> None:
    folder = cgroup_v2(tmp_path / "cg", current=10, high=100)
    (folder / name).write_text(text)
    with pytest.raises(ValueError, match=name):
        read_cgroup_memory(folder)


# --- locating the cgroup ---------------------------------------------------------------
def test_r12_auto_cgroup_from_proc_pid_cgroup_on_a_hybrid_v1_host(tmp_path: Path) -> None:
    procfs, root = tmp_path / "proc", tmp_path / "cgroup"
    (procfs / "4242").mkdir(parents=True)
    (procfs / "4242" / "cgroup").write_text(
        "12:pids:/system.slice/openclaw-gateway.service\n"
        "4:memory:/system.slice/openclaw-gateway.service\n"
        "1:name=systemd:/system.slice/openclaw-gateway.service\n"
        "0::/system.slice/openclaw-gateway.service\n")
    cgroup_v1(root / "memory" / "system.slice" / "openclaw-gateway.service", usage=1)
    where = locate("auto", 4242, procfs, root)
    assert where.path == root / "memory" / "system.slice" / "openclaw-gateway.service"
    assert where.problem == "" and where.how.endswith("4242/cgroup")


def test_r12_auto_cgroup_from_proc_pid_cgroup_on_a_unified_v2_host(tmp_path: Path) -> None:
    procfs, root = tmp_path / "proc", tmp_path / "cgroup"
    (procfs / "77").mkdir(parents=True)
    (procfs / "77" / "cgroup").write_text("0::/user.slice/user-1000.slice/user@1000.service/"
                                          "app.slice/openclaw-gateway.service\n")
    target = cgroup_v2(root / "user.slice" / "user-1000.slice" / "user@1000.service" /
                       "app.slice" / "openclaw-gateway.service", current=1)
    assert locate("auto", 77, procfs, root).path == target


def test_r12_auto_cgroup_without_a_pid_says_why(tmp_path: Path) -> None:
    where = locate("auto", None, tmp_path, tmp_path)
    assert where.path is None and "not found" in where.problem and "gateway.cgroup" in where.problem


def test_r12_auto_cgroup_of_a_pid_without_a_memory_cgroup_says_why(tmp_path: Path) -> None:
    (tmp_path / "proc" / "9").mkdir(parents=True)
    (tmp_path / "proc" / "9" / "cgroup").write_text("0::/\n")
    where = locate("auto", 9, tmp_path / "proc", tmp_path / "cgroup")
    assert where.path is None and "no memory cgroup found for PID 9" in where.problem


def test_r12_configured_cgroup_needs_no_pid(tmp_path: Path) -> None:
    where = locate(str(tmp_path / "cg"), None)
    assert where.path == tmp_path / "cg" and where.how == "configured"


# --- host ---------------------------------------------------------------------------
def test_r1_host_reads_memory_swap_disk_load_from_a_proc_tree(fake_host: FakeHost,
                                                             tmp_path: Path) -> None:
    fake_host.memory(91.0)
    fake_host.swap(total_kb=2_000_000, used_percent=25.0)
    s = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    assert s.memory_total_bytes == 8 * GIB and s.memory_percent == pytest.approx(91.0, abs=0.1)
    assert s.swap_total_bytes == 2_000_000 * 1024 and s.swap_percent == pytest.approx(25.0, abs=0.1)
    assert (s.load_1m, s.load_5m, s.load_15m) == (1.5, 1.0, 0.5)
    assert s.boot_time == fake_host.btime
    assert set(s.disks) == {"sda"}  # partitions and loop devices left out
    assert 0.0 <= s.disk_percent <= 100.0 and s.disk_path == str(tmp_path)


def test_r1_cpu_percent_comes_from_the_previous_runs_counters(fake_host: FakeHost,
                                                              tmp_path: Path) -> None:
    first = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    assert cpu_percent_between(None, first) is None  # first run: nothing to compare
    fake_host.cpu(busy_percent=73.0)
    second = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    assert cpu_percent_between(first.counters(), second) == pytest.approx(73.0, abs=0.2)


def test_r1_counters_from_before_a_reboot_give_no_rate(fake_host: FakeHost, tmp_path: Path) -> None:
    first = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    fake_host.btime += 3600
    fake_host.cpu(50.0)
    second = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    assert cpu_percent_between(first.counters(), second) is None
    assert io_rates_between(first.counters(), second, 60.0) is None


def test_r1_io_rates_and_busy_time_between_runs(fake_host: FakeHost, tmp_path: Path) -> None:
    first = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    fake_host.io(busy_ms=30_000, read_sectors=120 * 2048, write_sectors=60 * 2048)
    second = read_host(tmp_path, fake_host.procfs, fake_host.sysfs)
    io = io_rates_between(first.counters(), second, 60.0)
    assert io is not None and io.busiest_disk == "sda"
    assert io.busy_percent == pytest.approx(50.0)
    assert io.read_bytes_per_s == pytest.approx(2 * 1024 * 1024, rel=1e-3)
    assert io.write_bytes_per_s == pytest.approx(1024 * 1024, rel=1e-3)


def test_r1_host_probe_on_an_unreadable_proc_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_host(tmp_path, tmp_path / "no-proc", tmp_path)


# --- PSI ----------------------------------------------------------------------------
def test_r1_psi_reads_some_and_full(fake_host: FakeHost) -> None:
    fake_host.psi("memory", 12.5, 3.25)
    p = read_pressure(fake_host.procfs / "pressure")
    assert p.available and p.memory is not None and p.memory.some is not None
    assert p.memory.some.avg60_percent == 12.5 and p.memory.full.avg60_percent == 3.25
    assert p.memory.some.total_us == 1234


def test_r1_psi_absent_is_a_normal_not_available_reading(tmp_path: Path) -> None:
    p = read_pressure(tmp_path / "pressure")
    assert not p.available and p.error == ""


def test_r1_psi_garbled_file_is_reported_not_raised(fake_host: FakeHost) -> None:
    (fake_host.procfs / "pressure" / "io").write_text("some avg10=x\n")
    p = read_pressure(fake_host.procfs / "pressure")
    assert p.available and p.io is None and "io" in p.error


def test_psi_parser_rejects_what_is_not_psi() -> None:
    with pytest.raises(ValueError, match="unexpected PSI line"):
        parse_psi("hello world\n")
    with pytest.raises(ValueError, match="empty"):
        parse_psi("")
