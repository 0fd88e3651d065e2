"""The durable outbox: messages Discord has not taken yet, one file each.

Why files and not a list in the state: a message is written once (atomically)
and deleted once, so a crash can lose neither the message nor the state, and a
flood of alerts does not grow the JSON every run rewrites. The bookkeeping that
changes (attempts, last error, who is sending it right now) lives in
`state["commands"]["notify"]["outbox"]`, under the same lock.

Names are `<seq>-<created_ms>.json`: `seq` comes from the state under the lock,
so sorting the names is the order the messages were written, whatever the clock
did. The first function, `pending()`, is what every run calls: one listdir and
nothing else when the outbox is empty (no JSON, no imports).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SUFFIX = ".json"
MAX_BYTES = 4 << 20  # a message file larger than this is not one ctoops wrote


def pending(folder: Path) -> list[str]:
    """Queued message names, oldest first ([] when the folder does not exist)."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if n.endswith(SUFFIX) and not n.startswith("."))


def parse_name(name: str) -> tuple[int, float] | None:
    """(seq, created_ts) from a name, or None for a name ctoops did not write."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    seq, _, created_ms = stem.partition("-")
    if not (seq.isdigit() and created_ms.isdigit()):
        return None
    return int(seq), int(created_ms) / 1000.0


def next_seq(folder: Path, remembered: int) -> int:
    """The next sequence number: above the state's counter and above every file
    (a state lost to quarantine must not reuse names or reorder the queue)."""
    highest = remembered
    for name in pending(folder):
        parsed = parse_name(name)
        if parsed:
            highest = max(highest, parsed[0])
    return highest + 1


def put(folder: Path, seq: int, message: dict[str, Any]) -> str:
    """Write one message atomically (call under the lock); returns its name."""
    import json

    from ctoops.redaction import scrub_obj
    from ctoops.workspace import atomic_write, make_dirs

    make_dirs(folder)
    name = f"{seq:012d}-{int(float(message['created_ts']) * 1000)}{SUFFIX}"
    body = json.dumps(scrub_obj({**message, "id": name}), ensure_ascii=False, default=str)
    atomic_write(folder / name, body.encode("utf-8"))
    return name


def remove_stale_temps(folder: Path) -> list[str]:
    """Delete the temp files of writers killed inside `put` (call under the lock:
    every put runs under it, so any temp file found then is a dead writer's).
    Without this, each crash mid-write would leave a hidden file for good."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    gone = []
    for name in names:
        if name.startswith(".") and name.endswith(".tmp") and SUFFIX + "." in name:
            try:
                os.unlink(folder / name)
            except FileNotFoundError:
                continue
            gone.append(name)
    return gone


def read(folder: Path, name: str) -> dict[str, Any]:
    """One message. ValueError when it is not a message ctoops wrote; a symlink
    is refused rather than followed out of the folder."""
    import json

    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        try:
            data = json.loads(fh.read(MAX_BYTES + 1))
        except RecursionError:
            raise ValueError("not an outbox message (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("notice"), dict):
        raise ValueError("not an outbox message (no notice object)")
    return data


def remove(folder: Path, name: str) -> None:
    """Delete a delivered or expired message (gone already is fine: another run)."""
    try:
        os.unlink(folder / name)
    except FileNotFoundError:
        return


def quarantine(folder: Path, name: str, now: float) -> str:
    """Move an unreadable message aside (kept for a person, no longer retried)."""
    aside = f"{name}.corrupt-{int(now * 1000)}"
    os.replace(folder / name, folder / aside)
    return aside


def claim(folder: Path, book: dict[str, Any], now: float, lease_s: float, limit: int,
          owner: str, must: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Under the lock: the oldest messages no other live run is sending (at most
    `limit`, plus the run's own new ones in `must`), marked as this run's for
    `lease_s` (a crashed run's claim simply runs out)."""
    names: list[str] = []
    for name in pending(folder):
        if len(names) >= limit and name not in must:
            continue
        rec = book.setdefault(name, {"attempts": 0, "fallback_done": False})
        if float(rec.get("claimed_until", 0.0)) > now and rec.get("claimed_by") != owner:
            continue
        rec.update(claimed_until=now + lease_s, claimed_by=owner)
        names.append(name)
    return names


def prune_book(folder: Path, book: dict[str, Any]) -> None:
    """Forget bookkeeping of messages whose file is gone."""
    present = set(pending(folder))
    for name in [n for n in book if n not in present]:
        del book[name]
