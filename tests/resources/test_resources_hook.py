"""scripts/mc-resource-monitor.sh, the runbook's P1b hook (R12), run as a real process
with a `ctoops` on PATH, and a real child cgroup where the machine allows one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Ran, ctoops_env
from tests.resources.conftest import cgroup_v2, resources_config

HOOK = REPO / "scripts" / "mc-resource-monitor.sh"
V1_MEMORY = Path("/sys/fs/cgroup/memory")


@pytest.fixture
def hook(tmp_path: Path) -> Callable[..., Ran]:
    """Run the hook with a `ctoops` on PATH that runs this checkout."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "ctoops"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ctoops "$@"\n')
    shim.chmod(0o755)

    def _run(root: Path | None, cwd: Path | None = None,
             script: Path = HOOK) -> Ran:
        env = ctoops_env({"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                          "CTOOPS_PYTHON": sys.executable})
        if root is not None:
            env["CTOOPS_ROOT"] = str(root)
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                              cwd=cwd or tmp_path, timeout=120)
        return Ran(proc.returncode, proc.stdout, proc.stderr)

    return _run


def audit_actions(ws: Path) -> list[tuple[str, str, str, bool]]:
    lines = (ws / "logs" / "cto-ops-audit.log").read_text().splitlines()
    return [(r["command"], r["action"], r["outcome"], bool(r.get("auto")))
            for r in map(json.loads, lines)]


def test_r12_hook_runs_the_safe_restart_wrapper_above_the_ratio(
        workspace: Path, tmp_path: Path, hook: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=int(1.7 * (1 << 30)), high=2 << 30)
    resources_config(workspace, None, gateway={"cgroup": str(cg)})
    first = hook(workspace)
    assert first.returncode == 1, first.stderr  # WARNING: above, 1 of 2 runs
    assert not (workspace / "restarts.txt").exists()
    second = hook(workspace)
    assert second.returncode == 0, second.stderr  # the safe restart's exit code: done
    assert (workspace / "restarts.txt").read_text() == "restart\n"
    actions = audit_actions(workspace)
    assert ("check resources", "gateway_restart_wanted", "observed", True) in actions
    restart = [a for a in actions if a[1] == "gateway_restart" and a[2] in ("done", "reserved")]
    assert restart and all(a[3] for a in restart)  # audited as automatic
    log = json.loads((workspace / "logs" / "cto-ops-audit.log").read_text().splitlines()[-1])
    assert "85.0% of its high watermark" in log["reason"]


def test_r12_hook_below_the_ratio_does_nothing_and_passes_the_check_code(
        workspace: Path, tmp_path: Path, hook: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=100, high=1000)
    resources_config(workspace, None, gateway={"cgroup": str(cg)})
    for _ in range(3):
        r = hook(workspace)
        assert r.returncode == 0 and "OK" in r.stdout
    assert not (workspace / "restarts.txt").exists()


def test_r12_hook_finds_the_workspace_from_its_own_folder_without_ctoops_root(
        workspace: Path, tmp_path: Path, hook: Callable[..., Ran]) -> None:
    cg = cgroup_v2(tmp_path / "cg", current=95, high=100)
    resources_config(workspace, None, gateway={"cgroup": str(cg)})
    (workspace / "scripts").mkdir()
    for name in ("mc-resource-monitor.sh", "gateway-safe-restart.sh"):
        shutil.copy2(REPO / "scripts" / name, workspace / "scripts" / name)  # keeps +x
    for _ in range(2):
        hook(None, script=workspace / "scripts" / "mc-resource-monitor.sh")
    assert (workspace / "restarts.txt").read_text() == "restart\n"


def test_r12_hook_never_evaluates_what_it_reads(workspace: Path, tmp_path: Path,
                                                hook: Callable[..., Ran]) -> None:
    """A cgroup path full of shell syntax ends up in the reason, verbatim, and runs nothing."""
    evil = tmp_path / "cg $(touch PWNED) `touch PWNED2` ; touch PWNED3 \"'"
    cg = cgroup_v2(evil, current=95, high=100)
    resources_config(workspace, None, gateway={"cgroup": str(cg)})
    for _ in range(2):
        hook(workspace, cwd=tmp_path)
    assert not list(tmp_path.glob("PWNED*"))
    assert (workspace / "restarts.txt").read_text() == "restart\n"
    last = json.loads((workspace / "logs" / "cto-ops-audit.log").read_text().splitlines()[-1])
    assert "$(touch PWNED)" in last["reason"]


def test_r12_hook_says_unknown_when_ctoops_cannot_judge(workspace: Path,
                                                        hook: Callable[..., Ran]) -> None:
    resources_config(workspace, None, resources={"gateway_confirm_samples": 9})
    r = hook(workspace)
    assert r.returncode == 3 and "nothing done" in r.stderr
    assert not (workspace / "restarts.txt").exists()


# --- a real child cgroup (cgroup v1 memory controller) --------------------------------
ALLOCATOR = """
import sys, time
sys.stdin.readline()                  # wait until the parent moved us into the cgroup
block = b"x" * (64 << 20)             # 64 MiB, every page touched (charged to the cgroup)
print("ready", flush=True)
time.sleep(600)
"""


@pytest.fixture
def real_v1_cgroup() -> Iterator[Path]:
    folder = V1_MEMORY / f"ctoops-test-{uuid.uuid4().hex[:10]}"
    try:
        folder.mkdir()
        (folder / "memory.soft_limit_in_bytes").write_text(str(80 << 20))
    except OSError as exc:
        if folder.exists():
            folder.rmdir()
        reason = (f"no writable cgroup v1 memory controller at {V1_MEMORY} "
                  f"({exc.strerror or exc}); the real-cgroup check of P1b is skipped")
        print(reason)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        for _ in range(50):  # the kernel lets go of a cgroup shortly after its last task
            try:
                folder.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_r12_real_v1_child_cgroup_over_its_soft_limit_fires_p1b(
        workspace: Path, real_v1_cgroup: Path, run_check: Callable[..., Ran]) -> None:
    child = subprocess.Popen([sys.executable, "-c", ALLOCATOR], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        (real_v1_cgroup / "cgroup.procs").write_text(str(child.pid))
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "ready"
        usage = int((real_v1_cgroup / "memory.usage_in_bytes").read_text())
        assert usage > 64 << 20  # 64 MiB of 80: above the 80% ratio (64 MiB)
        resources_config(workspace, None, gateway={"cgroup": str(real_v1_cgroup)})
        docs = []
        for _ in range(3):
            r = run_check("check", "resources", "--gateway-only")
            docs.append(r.json())
            if (workspace / "restarts.txt").exists():
                break
        assert (workspace / "restarts.txt").read_text() == "restart\n", docs[-1]["findings"]
        gw = docs[-1]["gateway"]
        assert gw["cgroup"]["version"] == 1 and gw["cgroup"]["high_bytes"] == 80 << 20
        assert gw["watermark_source"] == "memory.soft_limit_in_bytes" and gw["ratio"] > 0.8
        assert gw["restart"]["outcome"]["status"] == "done"
    finally:
        child.kill()
        child.wait()
