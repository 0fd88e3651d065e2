"""The pure core: hysteresis, P1 (R8-R11) and P1b (R12) transitions. No files, no sleeps."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctoops.commands.check_resources import record
from ctoops.config import Config, Threshold, load_config
from ctoops.policy import flags
from ctoops.policy.hysteresis import LevelState, step_level
from ctoops.policy.resources import FLAG, REVIEW_KEY, GatewayReading, Samples, decide
from ctoops.probes.cgroup import CgroupMemory
from ctoops.probes.host import HostSample
from ctoops.probes.process import GatewayProcess
from ctoops.state import Transaction, empty_state

CFG: Config = load_config(None)
RES = CFG.resources
TH = Threshold(medium=85.0, high=95.0, clear=75.0)
GIB = 1 << 30


def host(memory: float = 40.0, busy_s: float = 0.0, total_s: float = 0.0, swap: float | None = None,
         disk: float = 30.0) -> HostSample:
    return HostSample(boot_time=1.7e9, cpu_count=4, cpu_busy_s=busy_s, cpu_total_s=total_s,
                      load_1m=1.0, load_5m=1.0, load_15m=1.0, memory_total_bytes=8 * GIB,
                      memory_available_bytes=int(8 * GIB * (100 - memory) / 100),
                      memory_percent=memory, swap_total_bytes=GIB if swap is not None else 0,
                      swap_used_bytes=0, swap_percent=swap, disks={}, disk_path="/ws",
                      disk_total_bytes=100 * GIB, disk_used_bytes=30 * GIB,
                      disk_free_bytes=70 * GIB, disk_percent=disk)


def cgroup(usage: int, high: int | None, version: int = 2) -> CgroupMemory:
    return CgroupMemory("/sys/fs/cgroup/system.slice/openclaw-gateway.service", version, usage,
                        high, None, 0, 0, 0, None, None, None, None)


def gw(cg: CgroupMemory | None = None, proc: GatewayProcess | None = None,
       problem: str = "") -> GatewayReading:
    return GatewayReading(proc, cg, "configured" if cg else "auto", problem)


class Run:
    """Drives decide() and the command's record() over an in-memory state, the way
    the command does under the lock, one run per call."""

    def __init__(self, cfg: Config = CFG) -> None:
        self.cfg = cfg
        self.state = empty_state()
        self.now = 1_000_000.0
        self.tx: Transaction | None = None
        self.busy = self.total = 0.0

    def __call__(self, memory: float = 40.0, cpu: float | None = None,
                 gateway: GatewayReading | None = None, host_sample: bool = True) -> Any:
        self.now += 60
        if cpu is not None:  # advance the counters as if `cpu`% was used for 60 s on 4 cores
            self.busy += 240 * cpu / 100
            self.total += 240
        sample = Samples(host(memory, self.busy, self.total) if host_sample else None, None,
                         gateway or gw(), None)
        d = decide(sample, self.state, self.cfg.resources, self.now)
        self.tx = Transaction(self.state, self.now, "check resources", self.cfg.guardrails)
        record(self.tx, d, "check resources")
        return d

    def blocked(self) -> bool:
        return bool(flags.spawn_blockers(self.state, self.now))

    def open_reviews(self) -> list[dict[str, Any]]:
        return [r for r in self.state["review_events"] if r["status"] == "open"]


# --- hysteresis ------------------------------------------------------------------------
def levels(values: list[float], enter: int = 2, leave: int = 3) -> list[str]:
    s, out = LevelState(), []
    for v in values:
        s = step_level(s, v, TH, enter, leave)
        out.append(s.level)
    return out


def test_r8_level_entered_only_after_enter_samples_consecutive_bad_samples() -> None:
    assert levels([90, 90]) == ["none", "medium"]
    assert levels([96, 96]) == ["none", "high"]
    assert levels([90, 96, 96]) == ["none", "medium", "high"]


def test_r8_flapping_around_the_threshold_never_changes_the_level() -> None:
    assert levels([90, 60] * 10) == ["none"] * 20
    # once in, single good samples between bad ones never clear it
    assert set(levels([90, 90] + [60, 60, 90] * 10)[1:]) == {"medium"}


def test_r8_level_left_only_after_exit_samples_below_clear() -> None:
    assert levels([90, 90, 74, 74, 74]) == ["none", "medium", "medium", "medium", "none"]
    # between clear and medium counts for nothing in either direction
    assert levels([90, 90, 80, 80, 80, 80]) == ["none"] + ["medium"] * 5


def test_r8_high_steps_down_to_medium_below_medium_then_to_none_below_clear() -> None:
    assert levels([96, 96, 80, 80, 80, 70, 70, 70]) == [
        "none", "high", "high", "high", "medium", "medium", "medium", "none"]


def test_r8_a_missing_reading_changes_nothing() -> None:
    s = step_level(LevelState(), 90, TH, 2, 3)
    assert step_level(s, None, TH, 2, 3) == s


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=100), max_size=40),
       enter=st.integers(1, 4), leave=st.integers(1, 4))
def test_r8_hysteresis_properties(values: list[float], enter: int, leave: int) -> None:
    s = LevelState()
    history: list[float] = []
    for v in values:
        before = s.level
        s = step_level(s, v, TH, enter, leave)
        history.append(v)
        if before == "none" and s.level != "none":  # entered: the last `enter` were bad
            assert len(history) >= enter and all(x >= TH.medium for x in history[-enter:])
        if s.level == "high" and before != "high":
            assert all(x >= TH.high for x in history[-enter:])
        if before != "none" and s.level == "none":  # left: the last `leave` were good
            assert all(x < TH.clear for x in history[-leave:])
        if before == "high" and s.level == "medium":
            assert all(x < TH.medium for x in history[-leave:])


# --- P1 -------------------------------------------------------------------------------
def test_r8_r9_r11_p1_enters_on_sustained_memory_pressure() -> None:
    run = Run()
    first = run(memory=91)
    assert first.pressure is None and not run.blocked()
    d = run(memory=91)
    assert d.pressure is not None and d.pressure.transition == "enter"
    assert d.pressure.level == "medium"
    flag = run.state["flags"][FLAG]
    assert flag["blocks_spawn"] is True and flag["since"] == run.now and flag["until"] is None
    assert "memory medium (entered at >= 85% for 2 samples; now 91.0%)" in flag["reason"]
    assert flag["values"]["memory_percent"] == 91
    assert run.blocked()  # R9: `ctoops gate spawn` reads exactly this
    reviews = run.open_reviews()
    assert len(reviews) == 1 and reviews[0]["key"] == REVIEW_KEY
    assert flag["review_id"] == reviews[0]["id"]
    assert run.tx is not None
    actions = [(e.action, e.outcome, e.auto) for e in run.tx.events]
    assert (f"set_flag:{FLAG}", "done", True) in actions
    assert run.state["decisions"][-1]["summary"].startswith("P1 set")


def test_r8_p1_enters_on_cpu_too_and_keeps_its_since_while_it_lasts() -> None:
    run = Run()
    run(cpu=10)
    run(cpu=97)
    d = run(cpu=97)
    assert d.pressure is not None and d.pressure.level == "high"
    since = run.state["flags"][FLAG]["since"]
    d = run(cpu=97)
    assert d.pressure is not None and d.pressure.transition == "update"
    assert run.state["flags"][FLAG]["since"] == since
    assert len(run.open_reviews()) == 1
    assert run.tx is not None and not [e for e in run.tx.events if "flag" in e.action]


def test_r8_r11_p1_clears_flag_block_and_review_after_exit_samples() -> None:
    run = Run()
    run(memory=91)
    run(memory=91)
    assert run.blocked()
    for _ in range(2):
        assert run(memory=50).pressure.transition == "update"
        assert run.blocked()
    d = run(memory=50)
    assert d.pressure is not None and d.pressure.transition == "clear"
    assert FLAG not in run.state["flags"] and not run.blocked()
    assert run.open_reviews() == []
    assert run.state["review_events"][0]["status"] == "closed"
    assert run.tx is not None
    assert [e.action for e in run.tx.events if "flag" in e.action] == [f"clear_flag:{FLAG}"]
    assert run(memory=50).pressure is None  # nothing more to clear


def test_r8_p1_escalation_is_audited_once() -> None:
    run = Run()
    run(memory=91)
    run(memory=91)
    run(memory=97)
    run(memory=97)
    assert run.state["flags"][FLAG]["risk"] == "high"
    assert run.tx is not None
    assert [e.action for e in run.tx.events if "flag" in e.action] == [f"raise_flag:{FLAG}"]


def test_r8_swap_and_disk_levels_are_findings_but_not_p1() -> None:
    run = Run()
    for _ in range(3):
        d = decide(Samples(host(swap=90.0, disk=97.0), None, gw(), None), run.state, RES,
                   run.now)
        run.state["commands"]["check resources"] = d.memory
    risks = {f.check: f.risk for f in d.findings}
    assert risks["swap"] == "high" and risks["disk"] == "high"
    assert d.pressure is None


def test_r5_a_risk_change_is_observed_once_not_every_run() -> None:
    run = Run()
    first = run(memory=40)
    assert ("gateway", "process", "low") in {(f.subsystem, f.check, f.risk) for f in first.observed}
    assert run(memory=40).observed == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([40.0, 80.0, 90.0, 97.0]), min_size=1, max_size=30))
def test_r9_the_spawn_block_follows_the_memory_level(values: list[float]) -> None:
    run = Run()
    for v in values:
        d = run(memory=v)
        level = d.data["levels"]["memory_percent"]
        assert run.blocked() == (level != "none")
        assert len(run.open_reviews()) == (1 if level != "none" else 0)


# --- P1b ------------------------------------------------------------------------------
def over(ratio: float = 0.9) -> GatewayReading:
    return gw(cgroup(int(2 * GIB * ratio), 2 * GIB))


def test_r12_gateway_over_80pct_of_memory_high_asks_for_restart_within_3_runs() -> None:
    run = Run()
    asked = [run(gateway=over(0.85), host_sample=False).restart_reason for _ in range(3)]
    assert asked[0] is None and asked.count(None) == 2 and sum(r is not None for r in asked) == 1
    reason = next(r for r in asked if r)
    assert "85.0%" in reason and "2.00 GiB" in reason and "memory.high" in reason
    assert "1.70 GiB" in reason


@pytest.mark.parametrize("confirm", [1, 2, 3])
def test_r12_debounce_fires_exactly_at_gateway_confirm_samples(confirm: int) -> None:
    cfg = dataclasses.replace(CFG, resources=dataclasses.replace(
        RES, gateway_confirm_samples=confirm))
    run = Run(cfg)
    fired = [run(gateway=over(), host_sample=False).restart_reason is not None for _ in range(6)]
    assert fired.index(True) == confirm - 1
    assert fired.count(True) == 6 // confirm  # each request needs a fresh confirmation


def test_r12_a_dip_below_the_ratio_resets_the_debounce() -> None:
    run = Run()
    run(gateway=over(), host_sample=False)
    run(gateway=over(0.5), host_sample=False)
    assert run(gateway=over(), host_sample=False).restart_reason is None


def test_r12_v1_soft_limit_is_the_watermark() -> None:
    run = Run()
    run(gateway=gw(cgroup(900 << 20, 1 << 30, version=1)), host_sample=False)
    d = run(gateway=gw(cgroup(900 << 20, 1 << 30, version=1)), host_sample=False)
    assert d.restart_reason is not None and "memory.soft_limit_in_bytes" in d.restart_reason


def test_r12_no_restart_is_asked_while_one_is_held_or_in_flight() -> None:
    run = Run()
    run.state["approvals"]["apr-1"] = {"id": "apr-1", "action": "gateway_restart",
                                       "status": "pending"}
    run(gateway=over(), host_sample=False)
    d = run(gateway=over(), host_sample=False)
    assert d.restart_reason is None
    assert d.data["gateway"]["restart"]["skipped"].startswith("a gateway restart is already waiting")
    assert {f.check: f.risk for f in d.findings}["memory_ratio"] == "high"


def test_r12_no_watermark_means_an_undefined_ratio_not_a_restart() -> None:
    run = Run()
    for _ in range(3):
        d = run(gateway=gw(cgroup(3 * GIB, None)), host_sample=False)
    assert d.restart_reason is None and d.data["gateway"]["ratio"] is None
    f = {f.check: f for f in d.findings}["memory_ratio"]
    assert f.risk == "low" and "undefined" in f.message


def test_r12_no_watermark_falls_back_to_the_configured_ceiling() -> None:
    cfg = dataclasses.replace(CFG, resources=dataclasses.replace(
        RES, gateway_memory_ceiling_bytes=4 * GIB))
    run = Run(cfg)
    run(gateway=gw(cgroup(int(3.5 * GIB), None)), host_sample=False)
    d = run(gateway=gw(cgroup(int(3.5 * GIB), None)), host_sample=False)
    assert d.data["gateway"]["watermark_source"] == "resources.gateway_memory_ceiling_bytes"
    assert d.restart_reason is not None and "87.5%" in d.restart_reason


def test_r12_without_a_cgroup_the_ceiling_applies_to_the_process_tree() -> None:
    cfg = dataclasses.replace(CFG, resources=dataclasses.replace(
        RES, gateway_memory_ceiling_bytes=GIB))
    proc = GatewayProcess(42, "openclaw-gateway", "sleeping", 900 << 20, 950 << 20, 10, 1.0,
                          1.7e9, "name")
    d = decide(Samples(None, None, gw(None, proc, "no memory cgroup"), None), empty_state(),
               cfg.resources, 1.0)
    assert d.data["gateway"]["usage_bytes"] == 950 << 20 and d.data["gateway"]["ratio"] > 0.9


def test_r1_gateway_not_running_is_a_low_finding_not_an_error() -> None:
    d = decide(Samples(None, None, gw(None, None, "the gateway process was not found"), None),
               empty_state(), RES, 1.0)
    risks = {f.check: f.risk for f in d.findings}
    assert risks == {"process": "low", "cgroup": "low"}
    assert d.restart_reason is None and "gateway not found" in d.summary


def test_r12_gateway_only_run_leaves_p1_and_host_counters_alone() -> None:
    run = Run()
    run(memory=91)
    run(memory=91)
    counters = run.state["commands"]["check resources"]["host_counters"]
    d = run(gateway=over(), host_sample=False)
    assert d.pressure is None and run.blocked()
    assert run.state["commands"]["check resources"]["host_counters"] == counters


def test_r5_a_finding_that_comes_back_is_observed_again() -> None:
    run = Run()
    assert any(f.check == "cgroup" for f in run(gateway=gw(None, None, "no cgroup")).observed)
    run(gateway=gw(cgroup(10, 100)))
    again = run(gateway=gw(None, None, "no cgroup"))
    assert [f.check for f in again.observed if f.subsystem == "gateway"] == ["cgroup"]


def test_garbled_counters_in_the_state_start_afresh_instead_of_failing() -> None:
    state = empty_state()
    state["commands"]["check resources"] = {
        "levels": {"memory_percent": {"level": "medium", "over_medium": "x"},
                   "cpu_percent": "nonsense"},
        "host_counters": {"ts": "yesterday", "boot_time": 1.7e9, "cpu_busy_s": None},
        "gateway": {"over_count": {"a": 1}}, "risks": []}
    d = decide(Samples(host(memory=50), None, over(), None), state, RES, 1e6)
    assert d.data["levels"]["memory_percent"] == "none" and d.data["host"]["cpu_percent"] is None
    assert d.memory["gateway"]["over_count"] == 1


def test_r5_a_p1_episode_that_comes_back_is_observed_again() -> None:
    run = Run()
    for v in (91, 91, 50, 50, 50):
        run(memory=v)
    assert FLAG not in run.state["flags"]
    run(memory=91)
    again = run(memory=91)
    assert ("resources", FLAG) in {(f.subsystem, f.check) for f in again.observed}


def test_r1_runs_seconds_apart_give_no_cpu_percent_and_keep_the_older_counters() -> None:
    """A check by hand right after the timer's must not measure ctoops's own start-up
    (two such runs would otherwise enter P1 on a quiet host)."""
    state = empty_state()

    def at(now: float, busy: float, total: float) -> Any:
        d = decide(Samples(host(busy_s=busy, total_s=total), None, gw(), None), state, RES, now)
        state["commands"]["check resources"] = d.memory
        return d

    at(1000.0, 0.0, 0.0)
    quick = at(1002.0, 2.0, 2.0)  # 100% busy, but over 2 s
    assert quick.data["host"]["cpu_percent"] is None
    assert "only 2 s ago" in {f.check: f for f in quick.findings}["cpu"].message
    assert state["commands"]["check resources"]["host_counters"]["ts"] == 1000.0
    later = at(1060.0, 12.0, 240.0)  # averaged from the first run's counters
    assert later.data["host"]["cpu_percent"] == 5.0 and later.data["host"]["cpu_window_s"] == 60.0
    stale = at(1060.0 + 3600, 20.0, 480.0)
    assert stale.data["host"]["cpu_percent"] is None
    assert state["commands"]["check resources"]["host_counters"]["ts"] == 1060.0 + 3600
