"""Helpers for the notification tests: point a workspace at the fake Discord and
build an in-process Context on a fixed clock (real files, real HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ctoops.clock import FixedClock
from ctoops.context import Context

T0 = 1_800_000_000.0  # a fixed "now" for in-process runs


def set_notify(root: Path, discord: dict[str, Any] | None = None, **notify: Any) -> None:
    """Merge these keys into the workspace's notify section."""
    path = root / "config" / "ctoops.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = data.setdefault("notify", {})
    section.update(notify)
    if discord:
        section.setdefault("discord", {}).update(discord)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def webhook_config(root: Path, url: str, order: list[str] | None = None, **discord: Any) -> None:
    set_notify(root, {"webhook_url": url, "timeout_s": 1.0, "max_inline_wait_s": 2.0, **discord},
               order=order or ["discord_webhook", "mc_output"])


def make_ctx(root: Path, now: float = T0, command: str = "test") -> Context:
    ctx = Context(root_option=str(root), clock=FixedClock(now))
    ctx.command = command
    return ctx


def outbox_names(root: Path) -> list[str]:
    folder = root / "memory" / "outbox"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) \
        if folder.exists() else []


def mc_lines(root: Path) -> list[dict[str, Any]]:
    import json

    path = root / "logs" / "mc-output.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
