"""What systemd says about the gateway unit: `systemctl [--user] show UNIT -p ...`.

Only when systemd is the init system (DESIGN.md: `/run/systemd/system` exists);
otherwise the result says "no systemd" and callers fall back to the process and
HTTP views. A systemctl that fails or hangs is a result with an `error`, never an
exception: a zombie-report must still judge the gateway when the manager is slow.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSTEMD_RUN_DIR = Path("/run/systemd/system")
PROPERTIES = ("LoadState", "ActiveState", "SubState", "MainPID", "NRestarts",
              "ExecMainStartTimestamp")
# ActiveState values under which the unit claims to have (or be getting) a process.
RUNNING_STATES = frozenset({"active", "activating", "deactivating", "reloading", "refreshing"})


@dataclass(frozen=True)
class UnitStatus:
    available: bool  # systemd runs and answered
    unit: str
    scope: str  # system | user
    load_state: str = ""  # loaded | not-found | masked | ...
    active_state: str = ""  # active | failed | inactive | activating | ...
    sub_state: str = ""  # running | dead | auto-restart | ...
    main_pid: int | None = None  # None: no main process (MainPID=0)
    n_restarts: int | None = None
    exec_main_start: str = ""  # as systemd prints it; empty when never started
    error: str = ""  # why `available` is false

    @property
    def known(self) -> bool:
        """The manager knows this unit (a missing unit says nothing about the gateway)."""
        return self.available and self.load_state not in ("", "not-found")

    @property
    def claims_running(self) -> bool:
        return self.known and self.active_state in RUNNING_STATES

    @property
    def failed(self) -> bool:
        return self.known and self.active_state == "failed"


def parse_show(text: str) -> dict[str, str]:
    """`Key=Value` lines as printed by `systemctl show`; values may contain '='."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def status_from_properties(unit: str, scope: str, props: dict[str, str]) -> UnitStatus:
    main_pid = _int_or_none(props.get("MainPID", ""))
    return UnitStatus(True, unit, scope, props.get("LoadState", ""), props.get("ActiveState", ""),
                      props.get("SubState", ""), main_pid if main_pid else None,
                      _int_or_none(props.get("NRestarts", "")),
                      props.get("ExecMainStartTimestamp", ""))


def read_unit(unit: str, scope: str, run_dir: Path = SYSTEMD_RUN_DIR, timeout_s: float = 3.0,
              systemctl: str = "systemctl") -> UnitStatus:
    """The unit's state, or a result that says why systemd could not tell."""
    if not run_dir.is_dir():
        return UnitStatus(False, unit, scope, error=f"no systemd ({run_dir} does not exist)")
    argv = [systemctl, *(["--user"] if scope == "user" else []), "show", unit,
            "-p", ",".join(PROPERTIES)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return UnitStatus(False, unit, scope, error=f"{systemctl} show did not answer in {timeout_s:g} s")
    except OSError as exc:
        return UnitStatus(False, unit, scope, error=f"cannot run {systemctl}: {exc.strerror or exc}")
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()
        return UnitStatus(False, unit, scope,
                          error=f"{systemctl} show exited {out.returncode}: {why[-1] if why else ''}")
    return status_from_properties(unit, scope, parse_show(out.stdout))
