"""Parse OpenClaw session keys (one format, both storage eras).

main `agent:<agentId>:main`; cron job `agent:<agentId>:cron:<jobId>`; cron run
`agent:<agentId>:cron:<jobId>:run:<runId>` (runId is that run's sessionId);
subagent `agent:<agentId>:subagent:<uuid>`; heartbeat `agent:<agentId>:heartbeat:main`;
groups `agent:<agentId>:<channel>:group:<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionKey:
    raw: str
    agent_id: str
    kind: str  # main | cron_job | cron_run | subagent | heartbeat | group | other
    job_id: str | None = None
    run_id: str | None = None
    subagent_id: str | None = None

    @property
    def cron_base(self) -> str | None:
        """For a cron run, the key of its job's base entry."""
        if self.job_id is None:
            return None
        return f"agent:{self.agent_id}:cron:{self.job_id}"


def parse_key(raw: str) -> SessionKey:
    parts = raw.split(":")
    if len(parts) < 3 or parts[0] != "agent":
        return SessionKey(raw, "", "other")
    agent, rest = parts[1], parts[2:]
    if rest == ["main"]:
        return SessionKey(raw, agent, "main")
    if rest[0] == "cron" and len(rest) == 2:
        return SessionKey(raw, agent, "cron_job", job_id=rest[1])
    if rest[0] == "cron" and len(rest) == 4 and rest[2] == "run":
        return SessionKey(raw, agent, "cron_run", job_id=rest[1], run_id=rest[3])
    if rest[0] == "subagent" and len(rest) == 2:
        return SessionKey(raw, agent, "subagent", subagent_id=rest[1])
    if rest[0] == "heartbeat":
        return SessionKey(raw, agent, "heartbeat")
    if len(rest) >= 3 and rest[1] == "group":
        return SessionKey(raw, agent, "group")
    return SessionKey(raw, agent, "other")
