"""P2, dead gateway session with tasks in progress (R17-R19), as a pure function.

`decide(snapshot, board, memory, cfg, now)` looks at every in-progress task
(board `in_progress`, or ledger `running` that no board task stands for),
judges its session (policy.dead_sessions), and for each one on a dead session:
moves the board task to `review` (R17; a ledger-only task is put on the board in
`review`), records the lost session key and task id (R18) and computes its retry
policy from the task's loss history (R19; policy.retry). A `manual` verdict also
opens a review event and alerts.

Idempotency lives in `memory` (this command's corner of the state): a loss is
known by (session key, session id), and a known loss is never moved, counted or
alerted again. Seeing the task in progress on a live session again clears that,
so the next death is a new loss. The board write happens later under the lock;
`record_board_results` folds its outcome back into the memory, and a move that
could not be written is retried on the next run without counting it again.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ctoops.actions.board import BoardResult, BoardSnapshot, BoardTask, BoardUpdate
from ctoops.actions.notify import Notice
from ctoops.audit import iso
from ctoops.config import SessionsConfig
from ctoops.policy.dead_sessions import SessionIndex, SessionVerdict, judge, judge_all
from ctoops.policy.retry import MANUAL, Loss, RetryPolicy, retry_policy
from ctoops.probes.openclaw.model import OpenClawSnapshot, TaskRun
from ctoops.report import Finding

IN_PROGRESS, REVIEW = "in_progress", "review"
AWAITING, MANUAL_WAIT, RUNNING, CLOSED = "awaiting_retry", "manual", "running", "closed"
LOSSES_KEPT = 20
FORGET_AFTER_S = 7 * 86400


@dataclass(frozen=True)
class InProgressTask:
    task_id: str
    source: str  # board | ledger
    session_key: str | None
    title: str | None
    ledger: TaskRun | None = None
    board: BoardTask | None = None


@dataclass(frozen=True)
class LostTask:
    """A task on a dead session: what was decided for it this run."""

    task: InProgressTask
    verdict: SessionVerdict
    policy: RetryPolicy
    new: bool  # first time this loss is seen (counted and alerted now)
    update: BoardUpdate | None

    def as_dict(self) -> dict[str, Any]:
        return {"task_id": self.task.task_id, "source": self.task.source,
                "title": self.task.title, "session_key": self.verdict.key,
                "rule": self.verdict.rule, "explanation": self.verdict.explanation,
                "new": self.new, "retry_policy": self.policy.as_dict(),
                "openclaw_task_id": self.task.ledger.task_id if self.task.ledger else None}


@dataclass
class SessionsDecision:
    lost: list[LostTask] = field(default_factory=list)
    updates: list[BoardUpdate] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)  # open_review kwargs
    verdicts: dict[str, SessionVerdict] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> policy
    memory: dict[str, Any] = field(default_factory=dict)


def in_progress_tasks(board: BoardSnapshot, ledger: tuple[TaskRun, ...]) -> list[InProgressTask]:
    """Board tasks in progress, then ledger tasks running that no board task stands for."""
    by_ledger_id = {t.task_id: t for t in ledger}
    linked = {b.openclaw_task_id for b in board.tasks if b.openclaw_task_id} | {
        b.id for b in board.tasks}
    out = []
    for b in board.tasks:
        if b.status != IN_PROGRESS:
            continue
        run = by_ledger_id.get(b.openclaw_task_id or "")
        out.append(InProgressTask(b.id, "board", b.session_key or (
            run.child_session_key if run else None), b.title, run, b))
    for t in ledger:
        if t.status == "running" and t.task_id not in linked and board.readable:
            out.append(InProgressTask(t.task_id, "ledger", t.child_session_key, t.label, t))
    return out


def _entry(memory: dict[str, Any], task: InProgressTask, now: float) -> dict[str, Any]:
    return memory["tasks"].setdefault(task.task_id, {
        "source": task.source, "title": task.title, "status": RUNNING, "losses": [],
        "handled": [], "board_pending": False, "policy": None, "resumed_ts": None,
        "first_seen_ts": now})


def _fingerprint(v: SessionVerdict) -> str:
    return f"{v.key}|{v.record.session_id if v.record and v.record.session_id else '-'}"


def _board_update(task: InProgressTask, v: SessionVerdict, policy: RetryPolicy,
                  now: float) -> BoardUpdate:
    own = {"lost_session_key": v.key, "lost_at": iso(now), "lost_rule": v.rule,
           "lost_reason": v.explanation, "retry_policy": _policy_for_board(policy),
           **({"openclaw_task_id": task.ledger.task_id} if task.ledger else {})}
    if task.source == "board":
        return BoardUpdate(task.task_id, set_status=REVIEW, expect_status=IN_PROGRESS, ctoops=own)
    return BoardUpdate(task.task_id, set_status=REVIEW, ctoops=own, create={
        "title": task.title or f"OpenClaw task {task.task_id}", "session_key": v.key,
        "openclaw_task_id": task.task_id, "source": "openclaw-ledger"})


def _policy_for_board(p: RetryPolicy) -> dict[str, Any]:
    return {"verdict": p.verdict, "attempts": p.attempts, "retries_left": p.retries_left,
            "backoff_s": p.backoff_s, "retry_at": iso(p.retry_at) if p.retry_at else None,
            "retry_at_epoch": p.retry_at, "reason": p.reason,
            "last_failures": [{**f, "at": iso(f["ts"])} for f in p.last_failures]}


def _lose(d: SessionsDecision, task: InProgressTask, v: SessionVerdict, entry: dict[str, Any],
          cfg: SessionsConfig, now: float) -> None:
    """A new loss: count it, decide the policy, move the task, alert."""
    loss = {"ts": now, "session_key": v.key, "session_id": v.record.session_id if v.record
            else None, "rule": v.rule, "explanation": v.explanation,
            "run_started_ts": entry.get("resumed_ts"),
            "error": task.ledger.error if task.ledger else None}
    entry["losses"] = [*entry["losses"], loss][-LOSSES_KEPT:]
    entry["handled"] = [*entry["handled"], _fingerprint(v)][-LOSSES_KEPT:]
    policy = retry_policy([Loss.from_dict(x) for x in entry["losses"]], cfg, now)
    entry.update(status=MANUAL_WAIT if policy.verdict == MANUAL else AWAITING,
                 policy=policy.as_dict(), board_pending=True, resumed_ts=None,
                 last_loss_ts=now, source=task.source, title=task.title)
    update = _board_update(task, v, policy, now)
    d.lost.append(LostTask(task, v, policy, True, update))
    d.updates.append(update)
    what = (f"task {task.task_id} ({task.source}) lost its session {v.key}: {v.explanation}; "
            f"retry policy {policy.verdict}"
            + (f" at {iso(policy.retry_at)}" if policy.retry_at else "")
            + f" (attempt {policy.attempts})")
    d.findings.append(Finding("sessions", f"lost_task:{task.task_id}", "medium", what,
                              d.lost[-1].as_dict()))
    d.notices.append(Notice("sessions", f"task_lost:{task.task_id}", "medium",
                            f"Task {task.task_id} moved to review: its session died", what,
                            fields={"task": task.task_id, "session": v.key,
                                    "rule": str(v.rule), "retry": policy.verdict}))
    if policy.verdict == MANUAL:
        d.reviews.append({"kind": "task_manual_retry", "subsystem": "sessions",
                          "summary": f"task {task.task_id} lost its session {policy.attempts} "
                                     "times in a row: retry it by hand or close it",
                          "details": d.lost[-1].as_dict(),
                          "key": f"sessions:manual:{task.task_id}"})
        d.notices.append(Notice("sessions", f"task_manual:{task.task_id}", "medium",
                                f"Task {task.task_id} needs a person", policy.reason,
                                urgent=True, fields={"task": task.task_id}))


def _known(d: SessionsDecision, task: InProgressTask, v: SessionVerdict,
           entry: dict[str, Any], cfg: SessionsConfig, now: float) -> None:
    """A loss already recorded: no count, no alert; retry a board move still owed."""
    policy = retry_policy([Loss.from_dict(x) for x in entry["losses"]], cfg, now)
    update = None
    if entry.get("board_pending"):
        update = _board_update(task, v, policy, float(entry.get("last_loss_ts", now)))
        d.updates.append(update)
    d.lost.append(LostTask(task, v, policy, False, update))
    d.findings.append(Finding(
        "sessions", f"lost_task:{task.task_id}", "low",
        f"task {task.task_id} is still in progress on the dead session {v.key} (already "
        f"handled at {iso(float(entry.get('last_loss_ts', now)))}; "
        + ("the board move is retried)" if update else "not moved or counted again)"),
        d.lost[-1].as_dict()))


def _refresh(d: SessionsDecision, task_id: str, entry: dict[str, Any],
             board: dict[str, BoardTask], board_readable: bool, cfg: SessionsConfig,
             now: float) -> None:
    """A task waiting for its retry: follow the board, keep the policy current."""
    on_board = board.get(task_id)
    if board_readable and on_board is None and not entry.get("board_pending"):
        entry["status"] = CLOSED
        return
    if on_board is not None and on_board.status not in (REVIEW, IN_PROGRESS):
        entry["status"] = CLOSED  # done, dropped, reassigned: the orchestrator acted
        return
    policy = retry_policy([Loss.from_dict(x) for x in entry["losses"]], cfg, now)
    d.policies[task_id] = policy.as_dict()
    old = (entry.get("policy") or {}).get("verdict")
    entry["policy"] = policy.as_dict()
    if old != policy.verdict and on_board is not None and on_board.status == REVIEW:
        update = BoardUpdate(task_id, expect_status=REVIEW,
                             ctoops={"retry_policy": _policy_for_board(policy)})
        d.updates.append(update)
    d.findings.append(Finding("sessions", f"retry_policy:{task_id}", "low",
                              f"task {task_id} waits in review: {policy.verdict}"
                              + (f" at {iso(policy.retry_at)}" if policy.retry_at else "")
                              + f" ({policy.reason})", {"task_id": task_id, **policy.as_dict()}))


def decide(snap: OpenClawSnapshot, board: BoardSnapshot, memory: dict[str, Any],
           cfg: SessionsConfig, now: float) -> SessionsDecision:
    """P2 for every in-progress task; the memory that goes back into the state."""
    d = SessionsDecision(memory=normalize_memory(memory))
    index = SessionIndex.build(snap)
    touched: set[str] = set()
    for task in in_progress_tasks(board, snap.ledger.tasks):
        if not task.session_key:
            d.findings.append(Finding("sessions", f"task:{task.task_id}", "low",
                                      f"task {task.task_id} is in progress but names no "
                                      "session key: its session cannot be judged"))
            continue
        owner = task.ledger.owner_pid if task.ledger else None
        v = judge(task.session_key, index, cfg, now, owner)
        d.verdicts[v.key] = v
        entry = d.memory["tasks"].get(task.task_id)
        if not v.dead:
            if entry is not None and entry.get("status") != RUNNING and v.state == "running":
                entry.update(status=RUNNING, handled=[], resumed_ts=now, board_pending=False)
            touched.add(task.task_id)
            continue
        entry = _entry(d.memory, task, now)
        touched.add(task.task_id)
        if _fingerprint(v) in entry["handled"] and entry.get("status") != RUNNING:
            _known(d, task, v, entry, cfg, now)
        else:
            _lose(d, task, v, entry, cfg, now)
        d.policies[task.task_id] = entry["policy"]
    d.verdicts = judge_all(index, cfg, now, d.verdicts)
    by_id = {t.id: t for t in board.tasks}
    for task_id, entry in d.memory["tasks"].items():
        if task_id not in touched and entry.get("status") in (AWAITING, MANUAL_WAIT):
            _refresh(d, task_id, entry, by_id, board.readable, cfg, now)
    horizon = now - max(FORGET_AFTER_S, 2 * cfg.healthy_reset_s)
    d.memory["tasks"] = {k: v for k, v in d.memory["tasks"].items()
                         if k in touched or float(v.get("last_loss_ts", now)) > horizon
                         or v.get("status") in (AWAITING, MANUAL_WAIT)}
    return d


def normalize_memory(raw: Any) -> dict[str, Any]:
    """This command's memory from the state, with anything of the wrong shape dropped
    (a hand-edited state must not crash the check, nor count a loss twice)."""
    memory = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    tasks = memory.get("tasks") if isinstance(memory.get("tasks"), dict) else {}
    clean: dict[str, Any] = {}
    for task_id, entry in tasks.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("losses", []), list):
            continue
        losses = [x for x in entry.get("losses", []) if isinstance(x, dict)
                  and isinstance(x.get("ts"), (int, float))]
        handled = [x for x in entry.get("handled", []) if isinstance(x, str)] \
            if isinstance(entry.get("handled"), list) else []
        if entry.get("status") in (AWAITING, MANUAL_WAIT) and not losses:
            continue
        clean[str(task_id)] = {**entry, "losses": losses, "handled": handled}
    memory["tasks"] = clean
    stale = memory.get("heartbeat_stale")
    memory["heartbeat_stale"] = ({str(k): float(v) for k, v in stale.items()
                                  if isinstance(v, (int, float))}
                                 if isinstance(stale, dict) else {})
    return memory


def record_board_results(memory: dict[str, Any], results: list[BoardResult]) -> None:
    """After the write: a move that was done or is moot is no longer owed."""
    for r in results:
        entry = memory.get("tasks", {}).get(r.task_id)
        if entry is not None and r.outcome in ("done", "skipped"):
            entry["board_pending"] = False
