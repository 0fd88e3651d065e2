"""Generate realistic legacy (file-era) OpenClaw state: stores, run logs, registry.

Used by tests/restart (ground truth for "exactly the dead runs removed, all else
byte-identical") and by benchmarks/prune.py (a 100 MB store). The generator
writes each store itself, member by member, so it knows the exact bytes of every
entry and of every separator, and computes the expected file after a prune from
those bytes alone, independently of ctoops's scanner.

Entries look like the gateway's: sessionId, updatedAt (ms), sessionFile,
spawnedBy, spawnDepth, status, token counters and tens of KB of
`skillsSnapshot` / `systemPromptReport` text with non-ASCII, escapes, quotes and
U+2028. Jobs have many runs. Which runs are dead follows OPENCLAW.md's rules and
is decided here by construction, job type by job type:
  regular  latest run finished, older runs superseded (some past the retention)
  active   latest run running (kept), older runs superseded
  subagent older runs with children: running child, finished child, running
           grandchild (registry only), registry-only running child
  orphan   no base entry: recent unfinished runs kept, finished or old ones dead
  cross    (second agent) a superseded run whose running subagent lives in the
           other agent's store: kept
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
STYLES = ("gateway", "compact", "odd")
_WORDS = ("gateway", "cron", "deploy", "réunion", "tâche", "日志", "检查", "🦞", "naïve", "über",
          'say "hi"', "C:\\tmp\\x", "tab\there", "line\nbreak", "sep\u2028x", "emoji 🚀🔥",
          "ascii", "memory", "restart", "subagent", "prompt", "skills", "ĉu", "ñandú")


@dataclass
class Store:
    agent: str
    path: Path
    head: bytes
    tail: bytes
    keys: list[str] = field(default_factory=list)
    members: list[bytes] = field(default_factory=list)
    seps: list[bytes] = field(default_factory=list)  # seps[i] precedes members[i] (i >= 1)
    dead: set[str] = field(default_factory=set)

    def render(self) -> bytes:
        out = [self.head]
        for i, member in enumerate(self.members):
            if i:
                out.append(self.seps[i])
            out.append(member)
        out.append(self.tail)
        return b"".join(out)

    def expected_after_prune(self) -> bytes:
        """The same file with the dead members (and the separator before each kept
        one kept as written) taken out: what a byte-exact prune must produce."""
        out = [self.head]
        first = True
        for i, (key, member) in enumerate(zip(self.keys, self.members, strict=True)):
            if key in self.dead:
                continue
            if not first:
                out.append(self.seps[i])
            out.append(member)
            first = False
        out.append(self.tail)
        return b"".join(out)

    def member_bytes(self) -> dict[str, bytes]:
        return dict(zip(self.keys, self.members, strict=True))


@dataclass
class Generated:
    state_dir: Path
    now_ms: int
    stores: dict[str, Store]
    finished: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)

    @property
    def dead_total(self) -> int:
        return sum(len(s.dead) for s in self.stores.values())


class _Gen:
    def __init__(self, seed: int, blob_min: int, blob_max: int) -> None:
        self.rnd = random.Random(seed)
        self.blob_min, self.blob_max = blob_min, blob_max

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def text(self, size: int) -> str:
        parts: list[str] = []
        total = 0
        while total < size:
            word = self.rnd.choice(_WORDS)
            parts.append(word)
            total += len(word.encode("utf-8")) + 1
        return " ".join(parts)

    def entry(self, session_id: str, updated: int, status: str | None = None,
              spawned_by: str | None = None, heavy: bool = True) -> dict[str, Any]:
        size = self.rnd.randint(self.blob_min, self.blob_max) if heavy else 200
        e: dict[str, Any] = {"sessionId": session_id, "updatedAt": updated,
                             "sessionFile": f"{session_id}.jsonl"}
        if spawned_by:
            e["spawnedBy"] = spawned_by
            e["spawnDepth"] = 1
        if status:
            e["status"] = status
        e.update(inputTokens=self.rnd.randint(0, 90000), outputTokens=self.rnd.randint(0, 9000),
                 totalTokens=self.rnd.randint(0, 99000), model="gpt-5.5",
                 skillsSnapshot={"version": 3, "prompt": self.text(size * 2 // 3),
                                 "skills": [{"name": f"skill-{i}", "enabled": i % 2 == 0}
                                            for i in range(4)]},
                 systemPromptReport={"chars": size, "sections": [
                     {"id": "tools", "text": self.text(size // 3)}], "ratio": 0.5,
                     "bigNumber": 12345678901234567890, "exp": 1.5e-7})
        return e


def _dump(value: Any, style: str, rnd: random.Random) -> str:
    if style == "compact":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if style == "odd":
        return json.dumps(value, ensure_ascii=rnd.random() < 0.5,
                          indent=None if rnd.random() < 0.5 else "\t")
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")


def _add(store: Store, key: str, value: Any, style: str, rnd: random.Random) -> None:
    key_json = json.dumps(key, ensure_ascii=style == "odd")
    colon = {"gateway": ": ", "compact": ":", "odd": rnd.choice([" : ", ":", ":\t"])}[style]
    sep = {"gateway": ",\n  ", "compact": ",",
           "odd": rnd.choice([" ,\r\n\t", ",\n", "\n,  ", ","])}[style]
    store.keys.append(key)
    store.members.append((key_json + colon + _dump(value, style, rnd)).encode("utf-8"))
    store.seps.append(sep.encode())


def generate(state_dir: Path, agents: tuple[str, ...] = ("main", "ops"), jobs: int = 10,
             runs_per_job: int = 40, groups: int = 20, blob_min: int = 8_000,
             blob_max: int = 24_000, seed: int = 7, now_ms: int = 1_800_000_000_000,
             styles: tuple[str, ...] = ("gateway",)) -> Generated:
    """Write `agents/<a>/sessions/sessions.json`, `cron/runs/*.jsonl` and
    `subagents/runs.json` under state_dir; return the ground truth."""
    g = _Gen(seed, blob_min, blob_max)
    rnd = g.rnd
    out = Generated(state_dir, now_ms, {})
    registry: dict[str, Any] = {}
    pending_cross: list[str] = []
    kinds = ("regular", "active", "subagent", "orphan")
    for a_index, agent in enumerate(agents):
        style = styles[a_index % len(styles)]
        head, tail = {"gateway": (b"{\n  ", b"\n}"), "compact": (b"{", b"}"),
                      "odd": (b" {\r\n\t", b" \r\n}\n")}[style]
        path = state_dir / "agents" / agent / "sessions" / "sessions.json"
        store = Store(agent, path, head, tail)
        out.stores[agent] = store
        base_entries: list[tuple[str, dict[str, Any]]] = []
        _add(store, f"agent:{agent}:main", g.entry(g.uid(), now_ms - 60_000), style, rnd)
        _add(store, f"agent:{agent}:heartbeat:main", g.entry(g.uid(), now_ms - 30_000,
                                                            heavy=False), style, rnd)
        for i in range(groups):
            _add(store, f"agent:{agent}:discord:group:{1000 + i}",
                 g.entry(g.uid(), now_ms - i * HOUR_MS), style, rnd)
        for j in range(jobs):
            kind = kinds[j % len(kinds)]
            job = f"{agent}-{kind}-{j}"
            runs = [g.uid() for _ in range(runs_per_job)]
            finished: list[dict[str, Any]] = []
            for k, rid in enumerate(runs):
                key = f"agent:{agent}:cron:{job}:run:{rid}"
                age = (runs_per_job - 1 - k) * HOUR_MS * 3 // 4 + 60_000  # every 45 min
                latest = k == runs_per_job - 1
                status, dead, finished_line = "done", True, k % 3 != 0
                if kind == "active" and latest:
                    status, dead, finished_line = "running", False, False
                elif kind == "orphan":
                    recent = age < 24 * HOUR_MS
                    finished_line = k % 2 == 0
                    dead = finished_line or not recent
                    status = "done" if finished_line else "running" if recent else "done"
                elif latest:
                    finished_line = True  # regular/subagent: the latest run finished
                _add(store, key, g.entry(rid, now_ms - age, status), style, rnd)
                if kind == "subagent" and not latest:
                    dead = _children(g, store, style, registry, key, agent, k, now_ms - age)
                if kind == "regular" and k == 1 and len(agents) > 1 and a_index == 0:
                    pending_cross.append(key)
                    dead = False
                if dead:
                    store.dead.add(key)
                if finished_line:
                    line: dict[str, Any] = {"ts": now_ms - age + 5000, "jobId": job,
                                            "action": "finished", "status": "ok",
                                            "runAtMs": now_ms - age, "durationMs": 5000}
                    line[("sessionId", "sessionKey", "runId")[k % 3]] = key if k % 3 == 1 else rid
                    finished.append(line)
            if kind != "orphan":
                base_entries.append((f"agent:{agent}:cron:{job}",
                                     g.entry(runs[-1], now_ms - 60_000, heavy=False)))
            out.finished[job] = finished
        for key, value in base_entries:  # the gateway appends base entries as jobs update
            _add(store, key, value, style, rnd)
        if a_index == 1:
            for parent in pending_cross:  # a running subagent of another agent's run
                child = f"agent:{agent}:subagent:{g.uid()}"
                _add(store, child, g.entry(g.uid(), now_ms - 1000, "running", parent), style, rnd)
    out.registry = {"version": 2, "runs": registry}
    _write(out)
    return out


def _children(g: _Gen, store: Store, style: str, registry: dict[str, Any], run_key: str,
              agent: str, k: int, ts: int) -> bool:
    """Give a superseded run subagent children; True when the run is still dead."""
    rnd = g.rnd
    variant = k % 4
    child = f"agent:{agent}:subagent:{g.uid()}"
    rid = g.uid()
    if variant == 0:  # a running child (its entry says so)
        _add(store, child, g.entry(g.uid(), ts, "running", run_key, heavy=False), style, rnd)
        registry[rid] = {"childSessionKey": child, "requesterSessionKey": run_key, "startedAt": ts}
        return False
    if variant == 1:  # a finished child: the run is dead, the child stays
        _add(store, child, g.entry(g.uid(), ts, "done", run_key, heavy=False), style, rnd)
        registry[rid] = {"childSessionKey": child, "requesterSessionKey": run_key,
                         "startedAt": ts, "endedAt": ts + 1000, "outcome": "ok"}
        return True
    if variant == 2:  # child done, grandchild running by the registry only
        grand = f"agent:{agent}:subagent:{g.uid()}"
        _add(store, child, g.entry(g.uid(), ts, "done", run_key, heavy=False), style, rnd)
        _add(store, grand, g.entry(g.uid(), ts, "done", child, heavy=False), style, rnd)
        registry[rid] = {"childSessionKey": grand, "requesterSessionKey": child, "startedAt": ts}
        return False
    # variant 3: a child linked only through the registry (no spawnedBy), still running
    _add(store, child, g.entry(g.uid(), ts, None, None, heavy=False), style, rnd)
    registry[rid] = {"childSessionKey": child, "requesterSessionKey": run_key, "startedAt": ts}
    return False


def _write(out: Generated) -> None:
    for store in out.stores.values():
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_bytes(store.render())
    runs_dir = out.state_dir / "cron" / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for job, lines in out.finished.items():
        body = "".join(json.dumps(line) + "\n" for line in lines)
        (runs_dir / f"{job}.jsonl").write_text(body + '{"ts": 1, "jobId": "torn', encoding="utf-8")
    reg = out.state_dir / "subagents" / "runs.json"
    reg.parent.mkdir(parents=True, exist_ok=True)
    reg.write_text(json.dumps(out.registry, indent=2), encoding="utf-8")
