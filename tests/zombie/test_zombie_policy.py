"""The pure zombie decision (P4): verdicts, confirmation, incidents, escalation."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ctoops.config import ZombieConfig
from ctoops.policy import zombie as z
from ctoops.probes.gateway_log import LogFreshness
from ctoops.probes.health import GatewayHealth, HttpProbe
from ctoops.probes.openclaw.owner_lease import OwnerLease
from ctoops.probes.process import GatewayProcess
from ctoops.probes.systemd import UnitStatus

NOW = 1_800_000_000.0
CFG = ZombieConfig(zombie_confirm_samples=3, auto_restart_zombie=False, journal_lines=500,
                   bundle_max_bytes=5 << 20)
NO_SYSTEMD = UnitStatus(False, "openclaw-gateway", "system", error="no systemd")


def proc(status: str = "sleeping", pid: int = 4242, cpu: float = 10.0) -> GatewayProcess:
    return GatewayProcess(pid, "openclaw-gateway", status, 300 << 20, 300 << 20, 11, cpu,
                          NOW - 3600, "name")


def answer(url: str, body: dict[str, Any], status: int = 200) -> HttpProbe:
    return HttpProbe(url, True, status, 0.01, body)


def silent(url: str) -> HttpProbe:
    return HttpProbe(url, False, None, 2.0, error="timed out")


def health(ready: bool = True, degraded: bool = False, live: bool = True,
           ready_answers: bool = True) -> GatewayHealth:
    live_probe = answer("/healthz", {"ok": True, "status": "live"}) if live else silent("/healthz")
    body = {"ready": ready, "failing": [] if ready else ["channels"],
            "eventLoop": {"degraded": degraded, "delayP99Ms": 1400.0 if degraded else 20.0}}
    ready_probe = answer("/readyz", body, 200 if ready else 503) if ready_answers \
        else silent("/readyz")
    return GatewayHealth(live_probe, ready_probe)


def lease(expires_in_s: float | None = 200.0, pid: int = 4242) -> OwnerLease:
    if expires_in_s is None:
        return OwnerLease("no_database", "/x/state/openclaw.sqlite")
    return OwnerLease("ok", "/x", "uuid", int((NOW - 30) * 1000), int((NOW + expires_in_s) * 1000),
                      pid, "vm", 123, 18789, "foreground")


def obs(process: GatewayProcess | None = None, h: GatewayHealth | None = None,
        unit: UnitStatus = NO_SYSTEMD, owner: OwnerLease | None = None) -> z.Observation:
    return z.Observation(unit, process, h or health(), owner or lease(None),
                         LogFreshness("/tmp/openclaw/openclaw-2026-11-30.log", 10, NOW, NOW - 5))


def decide(o: z.Observation, memory: dict[str, Any] | None = None, **kw: Any) -> z.ZombieDecision:
    return z.decide(o, memory or {}, CFG, NOW, **kw)


def test_r22_ready_live_gateway_is_healthy() -> None:
    d = decide(obs(proc()))
    assert (d.state, d.risk, d.failing, d.streak) == ("healthy", "none", False, 0)


def test_r22_ready_but_event_loop_degraded_is_degraded() -> None:
    d = decide(obs(proc(), health(degraded=True)))
    assert (d.state, d.risk, d.failing) == ("degraded", "medium", False)
    assert "delayP99Ms=1400.0" in d.reasons[0]


def test_r22_readyz_answering_not_ready_is_unready_not_failing() -> None:
    d = decide(obs(proc(), health(ready=False)), {"streak": 2})
    assert (d.state, d.failing, d.streak) == ("unready", False, 0)
    assert "channels" in d.reasons[0]


def test_r22_first_and_second_timeouts_are_suspect_third_is_zombie() -> None:
    memory: dict[str, Any] = {}
    states = []
    for _ in range(4):
        d = decide(obs(proc("stopped"), health(live=False, ready_answers=False)), memory)
        memory = {**d.memory, "incident": memory.get("incident")}
        if d.open_incident:
            memory["incident"] = {"id": "inc-1", "bundle": None}
        states.append((d.state, d.risk, d.streak, d.open_incident))
    assert states == [("suspect", "medium", 1, False), ("suspect", "medium", 2, False),
                      ("zombie", "high", 3, True), ("zombie", "high", 4, False)]


def test_r22_healthz_answering_but_readyz_silent_counts_as_failing() -> None:
    d = decide(obs(proc(), health(ready_answers=False)))
    assert (d.state, d.failing) == ("suspect", True)


def test_r22_one_good_run_resets_the_count() -> None:
    d = decide(obs(proc()), {"streak": 2})
    assert d.streak == 0 and d.state == "healthy"


def test_r22_no_process_is_dead_at_once_but_incident_waits_for_confirmation() -> None:
    first = decide(obs(None, health(live=False, ready_answers=False)))
    assert (first.state, first.risk, first.open_incident) == ("dead", "high", False)
    third = decide(obs(None, health(live=False, ready_answers=False)), {"streak": 2})
    assert third.open_incident and third.collect_bundle and third.send_alert


def test_r22_defunct_process_is_dead() -> None:
    d = decide(obs(proc("zombie"), health(live=False, ready_answers=False)))
    assert d.state == "dead" and "defunct" in d.reasons[0]


def test_r22_failed_unit_is_dead_even_if_a_process_lingers() -> None:
    unit = UnitStatus(True, "openclaw-gateway", "system", "loaded", "failed", "failed", None, 5, "")
    assert decide(obs(proc(), unit=unit)).state == "dead"


def test_r22_active_unit_without_answer_is_a_zombie_candidate() -> None:
    unit = UnitStatus(True, "openclaw-gateway", "system", "loaded", "active", "running", 4242, 0, "x")
    d = decide(obs(None, health(live=False, ready_answers=False), unit), {"streak": 2})
    assert d.state == "zombie"


def test_r22_expired_lease_of_our_process_counts_as_failing() -> None:
    d = decide(obs(proc(pid=4242), health(), owner=lease(expires_in_s=-10, pid=4242)))
    assert d.failing and d.state == "suspect"
    assert any("liveness lease expired" in r for r in d.reasons)


def test_r22_stale_lease_of_another_process_is_ignored() -> None:
    d = decide(obs(proc(pid=4242), health(), owner=lease(expires_in_s=-10, pid=999)))
    assert d.state == "healthy"


def test_r22_restart_in_flight_does_not_advance_the_count() -> None:
    d = decide(obs(None, health(live=False, ready_answers=False)), {"streak": 2},
               restart_in_flight="act-123")
    assert d.streak == 2 and not d.counted and not d.open_incident
    assert any("act-123" in r for r in d.reasons)


def test_r22_cpu_moving_is_judged_against_the_same_process_only() -> None:
    memory = {"cpu": {"pid": 4242, "create_time": NOW - 3600, "cpu_time_s": 10.0, "ts": NOW - 60}}
    assert decide(obs(proc("stopped", cpu=10.0), health(False, live=False)), memory).cpu_moving is False
    assert decide(obs(proc(cpu=12.0)), memory).cpu_moving is True
    assert decide(obs(proc(pid=7, cpu=12.0)), memory).cpu_moving is None


def test_r22_persisting_zombie_does_not_reopen_or_realert() -> None:
    incident = {"id": "inc-1", "bundle": {"path": "logs/incidents/inc-1"},
                "alert": {"last_sent_ts": NOW - 60}, "escalation": {"kind": "approval"}}
    d = decide(obs(proc("stopped"), health(live=False, ready_answers=False)),
               {"streak": 5, "incident": incident})
    assert d.state == "zombie"
    assert not (d.open_incident or d.collect_bundle or d.send_alert or d.resolve_incident)


def test_r22_reminder_after_the_repeat_interval() -> None:
    incident = {"id": "inc-1", "bundle": {"path": "p"}, "alert": {"last_sent_ts": NOW - 4000}}
    d = decide(obs(proc("stopped"), health(live=False, ready_answers=False)),
               {"streak": 5, "incident": incident}, repeat_interval_s=3600)
    assert d.send_alert and not d.open_incident


def test_r23_missing_bundle_is_retried_a_bounded_number_of_times() -> None:
    failing = obs(proc("stopped"), health(live=False, ready_answers=False))
    retry = decide(failing, {"streak": 5, "incident": {"id": "i", "bundle": None,
                                                       "bundle_attempts": 1}})
    assert retry.collect_bundle
    spent = decide(failing, {"streak": 5, "incident": {"id": "i", "bundle": None,
                                                       "bundle_attempts": z.MAX_BUNDLE_ATTEMPTS}})
    assert not spent.collect_bundle


def test_r22_healthy_again_resolves_the_incident_degraded_does_not() -> None:
    memory = {"streak": 4, "incident": {"id": "inc-1", "bundle": {"path": "p"}}}
    assert decide(obs(proc()), memory).resolve_incident
    assert not decide(obs(proc(), health(degraded=True)), memory).resolve_incident


def test_r24_escalation_only_after_the_bundle_and_only_once() -> None:
    assert z.escalation_for({"id": "i", "bundle": None}, CFG) is None
    assert z.escalation_for({"id": "i", "bundle": {"path": "p"}}, CFG) == "hold"
    auto = ZombieConfig(3, True, 500, 1 << 20)
    assert z.escalation_for({"id": "i", "bundle": {"path": "p"}}, auto) == "auto_restart"
    assert z.escalation_for({"id": "i", "bundle": {"path": "p"},
                             "escalation": {"kind": "approval"}}, CFG) is None


@given(st.lists(st.sampled_from(["ok", "silent", "dead", "unready"]), min_size=1, max_size=12))
def test_r22_zombie_needs_confirm_consecutive_failures(runs: list[str]) -> None:
    """Whatever the sequence, zombie only after >= 3 consecutive failing runs, an
    incident opens at most once, and exit codes follow the verdict."""
    memory: dict[str, Any] = {}
    consecutive, opened = 0, 0
    for run in runs:
        o = {"ok": obs(proc()), "unready": obs(proc(), health(ready=False)),
             "silent": obs(proc("stopped"), health(live=False, ready_answers=False)),
             "dead": obs(None, health(live=False, ready_answers=False))}[run]
        d = decide(o, memory)
        consecutive = consecutive + 1 if run in ("silent", "dead") else 0
        assert d.streak == consecutive
        if d.state == "zombie":
            assert consecutive >= 3
        if run == "silent" and consecutive >= 3:
            assert d.state == "zombie"
        assert d.risk == z.RISK[d.state]
        opened += d.open_incident
        memory = {**d.memory, "incident": memory.get("incident")}
        if d.open_incident:
            memory["incident"] = {"id": "i", "bundle": {"path": "p"}}
        if d.resolve_incident:
            memory["incident"] = None
    assert opened <= sum(1 for r in runs if r == "ok") + 1


def test_r22_non_json_readyz_is_unready() -> None:
    h = GatewayHealth(answer("/healthz", {"ok": True}),
                      HttpProbe("/readyz", True, 200, 0.01, {}, "body is not JSON"))
    d = decide(obs(proc(), h))
    assert (d.state, d.failing) == ("unready", False)
