"""`ctoops check resources` end to end: a real child process, a /proc tree it reads
through psutil, a cgroup v2 folder, the fake pynvml first on PYTHONPATH."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ctoops.probes.process import systemd_running
from tests.conftest import Ran, run_ctoops
from tests.resources.conftest import GIB, FakeHost, cgroup_v2, resources_config


def notices(ws: Path) -> list[dict[str, Any]]:
    path = ws / "logs" / "mc-output.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def audit(ws: Path) -> list[dict[str, Any]]:
    path = ws / "logs" / "cto-ops-audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def state(ws: Path) -> dict[str, Any]:
    return json.loads((ws / "memory" / "orchestration-state.json").read_text())


def test_r1_json_has_every_metric_with_units(workspace: Path, fake_host: FakeHost,
                                             run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    assert run_check("check", "resources").returncode == 0
    fake_host.cpu(42.0)
    fake_host.io(busy_ms=6000)
    r = run_check("check", "resources")
    assert r.returncode == 0, r.stderr
    doc = r.json()
    assert doc["command"] == "check resources" and doc["status"] == "OK"
    host = doc["host"]
    assert host["cpu_percent"] == 42.0 and host["memory_percent"] == 40.0
    for key in ("cpu_window_s", "load_1m_per_core", "memory_total_bytes", "memory_available_bytes",
                "swap_total_bytes", "swap_used_bytes", "swap_percent", "disk_total_bytes",
                "disk_free_bytes", "disk_percent", "io_read_bytes_per_s", "io_write_bytes_per_s",
                "io_busy_percent"):
        assert host[key] is not None, key
    assert doc["pressure"]["memory"]["some"]["avg60_percent"] == 1.0
    assert doc["gpu"]["available"] is False and doc["gpu"]["devices"] == []
    assert doc["gpu"]["reason"].startswith("no NVIDIA driver")
    assert doc["gateway"]["process"] is None and doc["gateway"]["ratio"] is None
    assert doc["levels"] == {"cpu_percent": "none", "memory_percent": "none",
                             "swap_percent": "none", "disk_percent": "none"}
    assert {f["check"]: f["risk"] for f in doc["findings"]}["process"] == "low"


def test_r1_plain_output_starts_with_a_nagios_line_with_perfdata(
        workspace: Path, fake_host: FakeHost, run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    run_check("check", "resources", json_out=False)
    fake_host.cpu(30.0)
    r = run_check("check", "resources", json_out=False)
    first, *rest = r.stdout.splitlines()
    assert re.match(r"^CHECK RESOURCES OK - cpu 30\.0%, mem 40\.0%, .* \| cpu=30\.0%;85;95;0;100 "
                    r"mem=40\.0%;85;95;0;100 swap=10\.0%;50;80;0;100 disk=\S+ load1_per_core=1\.50",
                    first), first
    assert rest and all(re.match(r"^(NONE|LOW|MEDIUM|HIGH) +\w+/\w+: ", line) for line in rest)


def test_r8_r9_r10_r11_p1_enter_and_clear_end_to_end(workspace: Path, fake_host: FakeHost,
                                                    run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    fake_host.memory(91.0)
    assert run_check("check", "resources").returncode == 0  # 1 of 2 samples
    assert run_ctoops(["gate", "spawn"], root=workspace).returncode == 0
    r = run_check("check", "resources")
    assert r.returncode == 1, r.stdout  # WARNING: memory medium
    doc = r.json()
    assert doc["resource_pressure"]["active"] and doc["resource_pressure"]["transition"] == "enter"
    gate = run_ctoops(["gate", "spawn"], root=workspace)
    assert gate.returncode == 1 and "resource_pressure" in gate.stdout  # R9
    st = state(workspace)
    flag = st["flags"]["resource_pressure"]
    assert flag["blocks_spawn"]  # R8
    assert "memory medium (entered at >= 85% for 2 samples; now 91.0%)" in flag["reason"]
    assert [(e["key"], e["status"]) for e in st["review_events"]] == [
        ("resources:resource_pressure", "open")]  # R11
    sent = [n for n in notices(workspace) if n.get("type") == "notice"]
    assert sent[-1]["kind"] == "resource_pressure" and sent[-1]["active"] is True  # R10
    assert any(n.get("type") == "confirmation" for n in notices(workspace))  # R6
    assert any(a["action"] == "set_flag:resource_pressure" and a.get("auto")
               for a in audit(workspace))

    fake_host.memory(50.0)
    for _ in range(2):
        assert run_check("check", "resources").returncode == 1  # still inside the hysteresis
    r = run_check("check", "resources")
    assert r.returncode == 0 and r.json()["resource_pressure"]["transition"] == "clear"
    assert run_ctoops(["gate", "spawn"], root=workspace).returncode == 0
    st = state(workspace)
    assert "resource_pressure" not in st["flags"]
    assert st["review_events"][0]["status"] == "closed"
    resolved = [n for n in notices(workspace) if n.get("type") == "notice"][-1]
    assert resolved["active"] is False and resolved["title"].startswith("Resource pressure resolved")
    assert any(a["action"] == "clear_flag:resource_pressure" for a in audit(workspace))


def test_r12_p1b_fires_within_3_runs_with_an_explicit_v2_cgroup(
        workspace: Path, fake_host: FakeHost, tmp_path: Path,
        run_check: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cgroup" / "system.slice" / "openclaw-gateway.service",
                   current=int(1.7 * GIB), high=2 * GIB)
    resources_config(workspace, fake_host, gateway={"cgroup": str(cg)})
    restarts = workspace / "restarts.txt"
    codes = []
    for _ in range(3):
        r = run_check("check", "resources")
        codes.append(r.returncode)
        if restarts.exists():
            break
    assert restarts.read_text() == "restart\n", codes
    assert codes[-1] == 2  # CRITICAL: the gateway memory finding is high
    doc = r.json()
    restart = doc["gateway"]["restart"]
    assert restart["wanted"] and "85.0% of its high watermark 2.00 GiB" in restart["reason"]
    assert restart["outcome"]["status"] == "done" and restart["outcome"]["exit_code"] == 0
    assert doc["gateway"]["cgroup"]["version"] == 2 and doc["gateway"]["process"] is None
    actions = [(a["action"], a["outcome"], a.get("auto")) for a in audit(workspace)]
    assert ("gateway_restart_wanted", "observed", True) in actions
    wanted = next(a for a in audit(workspace) if a["action"] == "gateway_restart_wanted")
    assert "1.70 GiB" in wanted["reason"] and str(cg) in wanted["reason"]
    # the debounce starts over: the next run alone does not restart again
    run_check("check", "resources")
    assert restarts.read_text() == "restart\n"


def test_r12_gateway_only_no_restart_reports_the_reason_and_leaves_the_restart(
        workspace: Path, tmp_path: Path, run_check: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=95, high=100)
    resources_config(workspace, None, gateway={"cgroup": str(cg)})
    run_check("check", "resources", "--gateway-only", "--no-restart")
    r = run_check("check", "resources", "--gateway-only", "--no-restart")
    doc = r.json()
    assert r.returncode == 2 and doc["gateway_only"] is True and "host" not in doc
    assert doc["gateway"]["restart"]["wanted"] is True
    assert doc["gateway"]["restart"]["outcome"]["status"] == "left_to_caller"
    assert not (workspace / "restarts.txt").exists()


def test_r12_no_limit_gateway_cgroup_is_a_low_finding_exit_0(
        workspace: Path, fake_host: FakeHost, tmp_path: Path,
        run_check: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=5 * GIB)
    resources_config(workspace, fake_host, gateway={"cgroup": str(cg)})
    r = run_check("check", "resources")
    assert r.returncode == 0
    f = {f["check"]: f for f in r.json()["findings"]}["memory_ratio"]
    assert f["risk"] == "low" and "ratio is undefined" in f["message"]


def test_r1_missing_configured_cgroup_is_a_finding_not_unknown(
        workspace: Path, fake_host: FakeHost, tmp_path: Path,
        run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host, gateway={"cgroup": str(tmp_path / "gone")})
    r = run_check("check", "resources")
    assert r.returncode == 0
    f = {f["check"]: f for f in r.json()["findings"]}["cgroup"]
    assert f["risk"] == "low" and "no such cgroup folder" in f["message"]


def test_r1_gpu_readings_through_the_fake_nvml_on_pythonpath(
        workspace: Path, fake_host: FakeHost, tmp_path: Path,
        run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    fake_host.nvidia_driver()
    nvml = tmp_path / "gpu.json"
    nvml.write_text(json.dumps({"driver": "555.1", "devices": [
        {"name": "NVIDIA H200", "util": [77, 30], "memory": [70 << 30, 140 << 30]}]}))
    r = run_check("check", "resources", env={"CTOOPS_FAKE_NVML": str(nvml)})
    doc = r.json()
    assert r.returncode == 0 and doc["gpu"]["available"] and doc["gpu"]["driver_version"] == "555.1"
    dev = doc["gpu"]["devices"][0]
    assert (dev["name"], dev["utilization_percent"], dev["memory_percent"]) == (
        "NVIDIA H200", 77.0, 50.0)
    assert dev["memory_used_bytes"] == 70 << 30 and dev["power_w"] == 120.5


def test_r1_gpu_disabled_reads_nothing(workspace: Path, fake_host: FakeHost,
                                       run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host, resources={"gpu_enabled": False})
    doc = run_check("check", "resources").json()
    assert doc["gpu"]["available"] is False and doc["gpu"]["reason"].startswith("not read")


def test_dry_run_judges_but_records_and_sends_nothing(workspace: Path, fake_host: FakeHost,
                                                      run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    fake_host.memory(97.0)
    for _ in range(3):
        r = run_check("--dry-run", "check", "resources")
        assert r.returncode == 0  # nothing remembered, so never past 1 of 2 samples
    assert not (workspace / "memory" / "orchestration-state.json").exists()
    assert notices(workspace) == [] and audit(workspace) == []


def test_bad_resources_config_is_unknown_naming_the_key(workspace: Path,
                                                        run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, None, resources={"gateway_confirm_samples": 5})
    r = run_check("check", "resources")
    assert r.returncode == 3
    assert r.json()["status"] == "UNKNOWN" and "gateway_confirm_samples" in r.json()["error"]
    resources_config(workspace, None, resources={"cpu_percent": {"medium": 90, "high": 80,
                                                                 "clear": 10}})
    r = run_check("check", "resources")
    assert r.returncode == 3 and "resources.cpu_percent" in r.stderr


def test_unreadable_proc_is_unknown_and_nothing_is_lost(workspace: Path, fake_host: FakeHost,
                                                        run_check: Callable[..., Ran]) -> None:
    resources_config(workspace, fake_host)
    fake_host.memory(91.0)
    run_check("check", "resources")
    before = (workspace / "memory" / "orchestration-state.json").read_bytes()
    (fake_host.procfs / "meminfo").unlink()
    r = run_check("check", "resources")
    assert r.returncode == 3 and r.json()["status"] == "UNKNOWN" and "meminfo" in r.json()["error"]
    assert (workspace / "memory" / "orchestration-state.json").read_bytes() == before


def test_r12_dry_run_says_it_would_restart_and_does_not(workspace: Path, tmp_path: Path,
                                                        run_check: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=95, high=100)
    resources_config(workspace, None, gateway={"cgroup": str(cg)},
                     resources={"gateway_confirm_samples": 1})
    r = run_check("--dry-run", "check", "resources", "--gateway-only")
    assert r.returncode == 2
    assert r.json()["gateway"]["restart"]["outcome"]["status"] == "dry_run"
    assert not (workspace / "restarts.txt").exists()
    assert not (workspace / "logs" / "cto-ops-audit.log").exists()


def _fake_gateway(exe: Path) -> subprocess.Popen[bytes]:
    """A real process named like the gateway, holding 16 MiB."""
    proc = subprocess.Popen([str(exe), "-c", "import sys, time\nb = b'x' * (16 << 20)\n"
                             "print('up', flush=True)\ntime.sleep(120)"], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    return proc


def test_r1_gateway_rss_from_a_real_process_found_by_name_then_remembered(
        workspace: Path, tmp_path: Path, run_check: Callable[..., Ran]) -> None:
    name = f"ctoops-gw-{uuid.uuid4().hex[:8]}"
    exe = tmp_path / name
    exe.symlink_to(sys.executable)
    resources_config(workspace, None, gateway={"process_name": name})
    procs = [_fake_gateway(exe)]
    try:
        seen = []
        for _ in range(2):
            doc = run_check("check", "resources", "--gateway-only").json()
            seen.append(doc["gateway"]["process"])
        assert [p["pid"] for p in seen] == [procs[0].pid] * 2
        assert all(p["found_by"] == "name" and p["rss_bytes"] > 16 << 20 for p in seen)
        assert seen[0]["lookup"] == "searched"
        assert seen[1]["lookup"] == ("searched" if systemd_running() else "remembered")
        procs[0].kill()
        procs[0].wait()
        procs.append(_fake_gateway(exe))  # a restarted gateway: a new PID, found afresh
        doc = run_check("check", "resources", "--gateway-only").json()
        assert doc["gateway"]["process"]["pid"] == procs[1].pid
        assert doc["gateway"]["process"]["lookup"] == "searched"
    finally:
        for p in procs:
            p.kill()
            p.wait()
