"""Collect an incident's trail (R23) into `logs/incidents/<incident-id>/`.

What a person needs to understand a hung gateway after it has been restarted:
the unit's journal (or, without journald, the gateway's own log), the MC state
(board tasks in progress, ctoops's flags, freezes and pending approvals), every
probe result, the process as the kernel sees it, and a summary.md that says what
happened and what to do. Bounded by `zombie.bundle_max_bytes` (the newest log
lines are kept), secrets scrubbed, files 0o640. A missing tool (no journalctl,
no board) is written down as missing, never fatal; only a bundle that cannot be
written at all fails, and then nothing is escalated (R24).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctoops.probes.gateway_log import newest_log, tail_lines
from ctoops.redaction import scrub, scrub_obj
from ctoops.subproc import run_command
from ctoops.workspace import DIR_MODE, FILE_MODE, atomic_write

JOURNAL_DIR = Path("/run/systemd/journal")
JOURNAL_TIMEOUT_S = 10.0
BOARD_READ_MAX = 4 << 20
IN_PROGRESS = ("in_progress", "in-progress", "doing", "running")


@dataclass(frozen=True)
class TrailPart:
    name: str  # file name inside the bundle
    text: str
    keep: str = "head"  # head | tail: which end survives the size bound


@dataclass
class Trail:
    parts: list[TrailPart] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # source -> why it is not there


@dataclass(frozen=True)
class BundleResult:
    ok: bool
    path: str
    files: dict[str, int]  # name -> bytes written
    total_bytes: int
    truncated: tuple[str, ...]
    missing: dict[str, str]
    error: str = ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str, sort_keys=True) + "\n"


def journal_part(unit: str, scope: str, lines: int, max_bytes: int, journal_dir: Path,
                 journalctl: str = "journalctl") -> tuple[TrailPart | None, str]:
    """`journalctl [--user] -u UNIT -n N` (argv, timeout), or why it cannot be had."""
    exe = shutil.which(journalctl)
    if exe is None:
        return None, f"{journalctl} not found on PATH"
    if not journal_dir.is_dir():
        return None, f"no systemd journal on this host ({journal_dir} does not exist)"
    argv = [exe, *(["--user"] if scope == "user" else []), "-u", unit, "-n", str(lines),
            "--no-pager", "-o", "short-iso"]
    result = run_command(argv, JOURNAL_TIMEOUT_S, tail_bytes=max_bytes)
    head = f"# {' '.join(argv)} -> rc={result.returncode} {result.error}".rstrip()
    text = head + "\n" + result.output_tail
    return TrailPart("journal.txt", text, keep="tail"), "" if result.ok else head


def gateway_log_part(log_dir: Path, lines: int, max_bytes: int) -> tuple[TrailPart | None, str]:
    path = newest_log(log_dir)
    if path is None:
        return None, f"no openclaw-*.log in {log_dir}"
    try:
        tail = tail_lines(path, lines, max_bytes)
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}"
    return TrailPart("gateway-log.txt", f"# last {len(tail)} lines of {path}\n" + "\n".join(tail)
                     + "\n", keep="tail"), ""


def board_in_progress(board_path: Path) -> tuple[dict[str, Any], str]:
    """Tasks in progress on the MC board (a JSON file: a list of tasks, or an object
    with `tasks` as a list or an id -> task map), or why there are none to show."""
    try:
        with board_path.open("rb") as fh:
            raw = fh.read(BOARD_READ_MAX + 1)
    except FileNotFoundError:
        return {}, f"no MC board at {board_path}"
    except OSError as exc:
        return {}, f"cannot read the MC board {board_path}: {exc.strerror or exc}"
    if len(raw) > BOARD_READ_MAX:
        return {}, f"MC board {board_path} is larger than {BOARD_READ_MAX} bytes; not read"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return {}, f"MC board {board_path} is not valid JSON: {exc}"
    tasks: Any = data.get("tasks", []) if isinstance(data, dict) else data
    if isinstance(tasks, dict):
        tasks = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "value": v}
                 for k, v in tasks.items()]
    if not isinstance(tasks, list):
        return {}, f"MC board {board_path} has no task list"
    active = [t for t in tasks if isinstance(t, dict) and str(t.get("status", "")).lower()
              in IN_PROGRESS]
    return {"path": str(board_path), "tasks_total": len(tasks), "in_progress": active}, ""


def ctoops_state_summary(state: dict[str, Any]) -> dict[str, Any]:
    """What ctoops itself was holding when the incident opened."""
    return {
        "safe_mode": state.get("safe_mode"),
        "flags": state.get("flags", {}),
        "freezes": state.get("freezes", {}),
        "pending_approvals": [a for a in state.get("approvals", {}).values()
                              if a.get("status") == "pending"],
        "intents_in_flight": list(state.get("intents", {}).values()),
        "recent_history": state.get("history", [])[-20:],
        "recent_decisions": state.get("decisions", [])[-20:],
        "open_review_events": [r for r in state.get("review_events", [])
                               if r.get("status") == "open"][-20:],
    }


def process_details(pid: int | None, proc_root: Path = Path("/proc")) -> dict[str, Any]:
    """The process as psutil and /proc show it: enough to see a stopped or stuck one."""
    if pid is None:
        return {"pid": None, "note": "no gateway process"}
    import psutil

    out: dict[str, Any] = {"pid": pid}
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            out.update(proc.as_dict(attrs=["ppid", "name", "exe", "cmdline", "status",
                                           "create_time", "num_threads", "cpu_times",
                                           "memory_info", "num_fds", "username"]))
        for key in ("cpu_times", "memory_info"):
            if hasattr(out.get(key), "_asdict"):
                out[key] = out[key]._asdict()
        out["children"] = []
        for child in proc.children(recursive=True)[:50]:
            try:
                out["children"].append({"pid": child.pid, "name": child.name(),
                                        "status": child.status(),
                                        "rss_bytes": child.memory_info().rss})
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    except psutil.NoSuchProcess:
        return {"pid": pid, "note": "the process is gone"}
    except psutil.AccessDenied as exc:
        out["error"] = f"access denied: {exc}"
    base = proc_root / str(pid)
    for name in ("status", "wchan"):
        try:
            out[f"proc_{name}"] = (base / name).read_text(errors="replace")[:8192]
        except OSError as exc:
            out[f"proc_{name}"] = f"unreadable: {exc.strerror or exc}"
    states: dict[str, int] = {}
    try:
        for task in list((base / "task").iterdir())[:1000]:
            try:
                stat = (task / "stat").read_text(errors="replace")
            except OSError:
                continue
            letter = stat[stat.rfind(")") + 2:][:1]
            states[letter] = states.get(letter, 0) + 1
    except OSError as exc:
        out["thread_states_error"] = exc.strerror or str(exc)
    out["thread_states"] = states
    return out


def _cap(data: bytes, cap: int, keep: str) -> tuple[bytes, bool]:
    """Cut `data` to at most `cap` bytes, keeping its head or its tail, with a marker."""
    if len(data) <= cap:
        return data, False
    marker = f"[... {len(data)} bytes, cut to {cap} by zombie.bundle_max_bytes ...]\n".encode()
    room = max(0, cap - len(marker))
    if keep == "tail":
        kept = data[len(data) - room:]
        nl = kept.find(b"\n")
        kept = kept[nl + 1:] if 0 <= nl < len(kept) - 1 else kept
        return (marker + kept)[:cap], True
    kept = data[:room]
    nl = kept.rfind(b"\n")
    kept = kept[:nl + 1] if nl > 0 else kept
    return (kept + marker)[:cap], True


def write_bundle(incidents_dir: Path, incident_id: str, trail: Trail, summary: str,
                 max_bytes: int) -> BundleResult:
    """Write the trail, then summary.md last (its presence means the bundle is whole).
    The parts share `max_bytes`: summary and each head-kept part at most an eighth,
    the tail-kept logs split what is left."""
    dest = incidents_dir / incident_id
    summary_cap = max(512, max_bytes // 8)
    head_cap = max(512, max_bytes // 8)
    encoded = [(p, scrub(p.text).encode("utf-8")) for p in trail.parts]
    files: dict[str, int] = {}
    truncated: list[str] = []
    blobs: list[tuple[str, bytes]] = []
    used = 0
    for part, data in encoded:
        if part.keep == "head":
            data, cut = _cap(data, head_cap, "head")
            blobs.append((part.name, data))
            used += len(data)
            truncated += [part.name] if cut else []
    tails = [(p, d) for p, d in encoded if p.keep == "tail"]
    left = max(0, max_bytes - summary_cap - used)
    for part, data in tails:
        data, cut = _cap(data, left // len(tails), "tail")
        blobs.append((part.name, data))
        truncated += [part.name] if cut else []
    listing = "".join(f"- `{name}`: {len(data)} bytes" + (" (cut)" if name in truncated else "")
                      + "\n" for name, data in blobs)
    missing = "".join(f"- {src}: {why}\n" for src, why in trail.missing.items()) or "- nothing\n"
    text = scrub(summary).rstrip() + f"\n\n## Files\n{listing}\n## Missing\n{missing}"
    summary_data, cut = _cap(text.encode("utf-8"), summary_cap, "head")
    truncated += ["summary.md"] if cut else []
    try:
        if incidents_dir.exists() and not incidents_dir.is_dir():
            raise NotADirectoryError(f"{incidents_dir} exists and is not a folder")
        dest.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for name, data in [*blobs, ("summary.md", summary_data)]:
            atomic_write(dest / name, data, FILE_MODE)
            files[name] = len(data)
    except OSError as exc:
        return BundleResult(False, str(dest), files, sum(files.values()), tuple(truncated),
                            dict(trail.missing), f"cannot write the bundle in {dest}: "
                            f"{exc.strerror or exc}")
    return BundleResult(True, str(dest), files, sum(files.values()), tuple(truncated),
                        dict(trail.missing))


def json_part(name: str, value: Any) -> TrailPart:
    return TrailPart(name, _json(scrub_obj(value)))


def summary_markdown(incident: dict[str, Any], host: str, unit: str, health_url: str,
                     auto_restart: bool) -> str:
    """summary.md: what happened, when, why it was called, and what to do next."""
    reasons = "".join(f"- {r}\n" for r in incident.get("reasons", []))
    if auto_restart:
        next_step = ("`zombie.auto_restart_zombie` is true: ctoops asks for a guarded safe "
                     "restart once this bundle is written (see the audit log for its outcome).")
    else:
        next_step = ("A safe restart is HELD for a person, created after this bundle was "
                     "written (its reason names this incident). Look at the files below, "
                     "then `ctoops approvals list` and `ctoops approvals approve <id> "
                     "--reason ...` (or `deny`).")
    return (f"# Incident {incident['id']}: gateway {incident.get('state')}\n\n"
            f"- opened: {incident.get('opened_at')} on `{host}`\n"
            f"- unit: `{unit}`, health URL: {health_url}, pid: {incident.get('pid')}\n\n"
            f"## Why\n{reasons}\n## Next\n{next_step}\n")
