"""The legacy file era against the real openclaw@2026.7.1 (the last file-era
release): stores ctoops prunes stay stores that release reads (R13 step 2), and
a whole safe-restart of a real 2026.7.1 gateway loads the pruned store and keeps
it pruned."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from benchmarks.storegen import generate
from ctoops.actions.dead_runs import prune_dead_runs
from ctoops.config import load_config
from tests.conftest import run_ctoops, write_config
from tests.integration.openclaw_gateway import (
    SUPERVISOR,
    GatewaySpec,
    OpenClawInstall,
    start_gateway,
    stop_gateway,
)

pytestmark = pytest.mark.integration

TS = "2026-05-01T10-20-30.123Z"


def test_r13_real_2026_7_1_reader_lists_exactly_the_kept_keys_of_pruned_stores(
        openclaw_install: OpenClawInstall, tmp_path: Path) -> None:
    """Two agents, one store in the gateway's own layout and one compact; every
    kind of run (superseded, finished, old, held by a running subagent, held
    across agents) is pruned or kept by ctoops, then read back by the release."""
    state = tmp_path / "state"
    gen = generate(state, agents=("main", "ops"), jobs=8, runs_per_job=25, groups=5,
                   blob_min=2_000, blob_max=8_000, styles=("gateway", "compact"),
                   now_ms=int(time.time() * 1000))
    step = prune_dead_runs(load_config(None), str(state), gen.now_ms, dry_run=False)
    assert step.status == "done", step.summary
    assert step.as_dict()["entries_before"] - step.as_dict()["entries_after"] == gen.dead_total > 0
    for store in gen.stores.values():
        assert store.path.read_bytes() == store.expected_after_prune()
        out = openclaw_install.cli(["sessions", "--json", "--limit", "all", "--store",
                                    str(store.path)], tmp_path / "reader-home", "gw71")
        assert out.returncode == 0, out.stderr[-2000:]
        listed = json.loads(out.stdout)
        kept = {k for k in store.keys if k not in store.dead}
        assert listed["count"] == len(kept)
        assert {s["key"] for s in listed["sessions"]} == kept


def test_r13_safe_restart_of_a_real_2026_7_1_gateway_prunes_and_the_prune_sticks(
        openclaw_install: OpenClawInstall, tmp_path: Path) -> None:
    """The pruned store is what the restarted gateway loads, and the prune sticks."""
    spec = GatewaySpec.new(openclaw_install, tmp_path / "gw71", "gw71")
    gen = generate(spec.state_dir, agents=("main",), jobs=4, runs_per_job=12, groups=3,
                   blob_min=2000, blob_max=6000, now_ms=int(time.time() * 1000))
    sessions = spec.state_dir / "agents" / "main" / "sessions"
    (sessions / f"old.jsonl.deleted.{TS}").write_bytes(b"d" * 5000)
    gw = start_gateway(openclaw_install, spec.folder, spec=spec)
    try:
        old_pid = gw.pid
        root = tmp_path / "ws"
        write_config(root, {
            "gateway": {"state_dir": str(gw.state_dir), "health_url": gw.url,
                        "log_dir": str(gw.log_dir), "process_name": "openclaw-gateway",
                        "restart_command": [sys.executable, str(SUPERVISOR), "restart",
                                            str(spec.spec_file)],
                        "ready_timeout_s": 120, "settle_s": 1, "restart_timeout_s": 120},
            "notify": {"restart_notice_delay_s": 0, "order": ["mc_output"]}})
        ran = run_ctoops(["--json", "safe-restart", "--reason", "file-era drill"], root=root,
                         timeout=300)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
        report = ran.json()
        gw.pid = gw.recorded_pid()
        assert gw.pid != old_pid and report["confirm"]["ready"] is True
        assert report["confirm"]["memory_after"]["pid"] == gw.pid
        store = gen.stores["main"]
        assert report["prune"]["era"] == "file"
        assert report["prune"]["removed"] == len(store.dead) > 0
        assert report["confirm"]["prune_check"]["stuck"] is True
        assert store.path.read_bytes() == store.expected_after_prune()
        assert report["cleanup"]["removed"] == 1
    finally:
        stop_gateway(gw)
