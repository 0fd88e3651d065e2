"""The safe restart's own step-by-step log (R16): logs/gateway-safe-restart.log.

The restart itself is `gateway.restart_command`, run through ctoops/subproc.py;
this module only writes the log lines people read afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path


def log_step(path: Path, line: str) -> None:
    """One line of logs/gateway-safe-restart.log (R16)."""
    from ctoops.audit import iso
    from ctoops.redaction import scrub
    from ctoops.workspace import append_record, make_dirs

    make_dirs(path.parent)
    append_record(path, f"{iso(time.time())} {scrub(line)}\n".encode())
