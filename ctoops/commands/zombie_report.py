"""`ctoops zombie-report`: not built yet (issue 9). It says so and exits 3 (UNKNOWN)."""

from __future__ import annotations

from ctoops.context import Context
from ctoops.errors import NotBuiltYet
from ctoops.report import Report


def run(ctx: Context) -> Report:
    raise NotBuiltYet("this command is not built yet (issue 9); it judges nothing")
