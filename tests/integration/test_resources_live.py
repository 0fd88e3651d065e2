"""check resources against the live openclaw@2026.9.6 gateway (R1, R12).

The shared gateway runs in a child memory cgroup of its own where the machine
allows one (root with a writable /sys/fs/cgroup/memory v1 controller, as on CI,
or a cgroup v2 root that delegates memory). ctoops must find
the gateway by its health port (another gateway may run beside it), report the
RSS psutil sees for that PID, find the cgroup from the process (`auto`) and read
its usage against the watermark (v1 soft limit, v2 memory.high), and ask for the P1b safe restart once usage
stays above 80% of it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import Ran, run_ctoops, write_config
from tests.integration.conftest import SharedGateway

pytestmark = pytest.mark.integration


def workspace_for(root: Path, shared: SharedGateway, cgroup: str) -> Path:
    gw = shared.gw
    write_config(root, {
        "gateway": {"health_url": gw.url, "state_dir": str(gw.state_dir),
                    "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway",
                    "cgroup": cgroup,
                    "restart_command": [sys.executable, "-c",
                                        f"open({str(root / 'restarts.txt')!r}, 'a').write('x')"]},
        "resources": {"gateway_confirm_samples": 2, "gpu_enabled": False},
        "notify": {"order": ["mc_output"]}})
    return root


def check(root: Path) -> tuple[Ran, dict[str, Any]]:
    ran = run_ctoops(["--json", "check", "resources", "--gateway-only", "--no-restart"], root=root)
    assert ran.stdout, ran.stderr
    return ran, ran.json()["gateway"]


def test_r1_check_resources_reads_the_live_gateways_rss_and_finds_its_cgroup(
        shared_gateway: SharedGateway, tmp_path: Path) -> None:
    gw = shared_gateway.gw
    root = workspace_for(tmp_path / "ws", shared_gateway, "auto")
    for lookup in ("searched", "remembered"):
        ran, doc = check(root)
        rss = psutil.Process(gw.pid).memory_info().rss
        proc = doc["process"]
        assert ran.returncode in (0, 1), ran.stderr
        assert proc["pid"] == gw.pid and proc["name"] == "openclaw-gateway"
        assert proc["lookup"] == lookup
        assert abs(proc["rss_bytes"] - rss) <= 0.10 * rss, (proc["rss_bytes"], rss)
        assert proc["tree_rss_bytes"] >= proc["rss_bytes"]  # with its worker processes
    if shared_gateway.cgroup is None:
        return  # the cgroup half is the next test's, skipped with the reason
    assert doc["cgroup_how"] == f"/proc/{gw.pid}/cgroup"
    assert doc["cgroup"]["path"] == str(shared_gateway.cgroup.path)


def test_r12_check_resources_reads_the_live_gateways_cgroup_and_asks_for_p1b(
        shared_gateway: SharedGateway, tmp_path: Path) -> None:
    if shared_gateway.cgroup is None:
        print(f"skipping: {shared_gateway.cgroup_reason}")
        pytest.skip(f"no child memory cgroup for the gateway: {shared_gateway.cgroup_reason}")
    cgroup = shared_gateway.cgroup
    root = workspace_for(tmp_path / "ws", shared_gateway, str(cgroup.path))
    # the gateway at ~87% of its watermark: above the 80% ratio, with room left
    # (on v2, memory.high is enforced: the shared gateway must not be throttled)
    mark = cgroup.set_watermark(int(cgroup.usage_bytes() * 1.15))
    try:
        ran, first = check(root)
        usage = cgroup.usage_bytes()
        cg = first["cgroup"]
        assert (cg["path"], cg["version"], cg["high_bytes"]) == (
            str(cgroup.path), cgroup.version, mark)
        assert abs(cg["usage_bytes"] - usage) <= 0.10 * usage, (cg["usage_bytes"], usage)
        assert cg["anon_bytes"] > 50 << 20  # the gateway's heap is charged here
        assert first["watermark_source"] == cgroup.watermark_file
        assert first["ratio"] == pytest.approx(cg["usage_bytes"] / mark, abs=1e-3)
        assert first["ratio"] > 0.8 and first["over_count"] == 1
        assert first["restart"]["wanted"] is False and ran.returncode == 1

        ran, second = check(root)
        assert ran.returncode == 2, ran.stdout[-2000:]
        assert second["restart"]["wanted"] is True
        assert "P1b (R12)" in second["restart"]["reason"]
        assert second["restart"]["outcome"]["status"] == "left_to_caller"
        assert not (root / "restarts.txt").exists()
    finally:
        cgroup.set_watermark(None)
