"""`ctoops install|uninstall systemd`: not built yet (issue 10); says so, exits 3."""

from __future__ import annotations

from ctoops.context import Context
from ctoops.errors import NotBuiltYet
from ctoops.report import Report


def install(ctx: Context) -> Report:
    raise NotBuiltYet("`install systemd` is not built yet (issue 10)")


def uninstall(ctx: Context) -> Report:
    raise NotBuiltYet("`uninstall systemd` is not built yet (issue 10)")
