"""The few exceptions ctoops raises on purpose, and the exit code each maps to.

Like psutil's small exception family: a caller can tell *why* something did not
happen. `cli.py` is the only place that turns them into exit codes; nothing else
calls `sys.exit`.
"""

from __future__ import annotations

# Nagios plugin convention (check-style commands).
EXIT_OK = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
EXIT_UNKNOWN = 3

# sysexits-style codes (action commands).
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75  # refused by a guardrail: try later
EXIT_NOPERM = 77  # held for a person (needs_approval, safe mode)
EXIT_CONFIG = 78


class CtoopsError(Exception):
    """Base class: `exit_code` says what an action command returns for it."""

    exit_code: int = EXIT_FAILED


class ConfigError(CtoopsError):
    """The configuration is unusable; the message names the file and the key."""

    exit_code = EXIT_CONFIG


class StateCorrupt(CtoopsError):
    """The orchestration state could not be parsed (it has been quarantined)."""

    exit_code = EXIT_NOPERM


class StateUnavailable(CtoopsError):
    """The state or the lock could not be read or written (permissions, disk full)."""

    exit_code = EXIT_FAILED


class GuardrailRefused(CtoopsError):
    """A limit (restart budget, cooldown, freeze) refused the action; try later."""

    exit_code = EXIT_TEMPFAIL


class NeedsApproval(CtoopsError):
    """The action was held for a person (kill-switch or safe mode)."""

    exit_code = EXIT_NOPERM


class ActionFailed(CtoopsError):
    """The action ran and failed."""

    exit_code = EXIT_FAILED


class UsageError(CtoopsError):
    """The command line is wrong in a way Typer cannot see (a blank --reason)."""

    exit_code = EXIT_USAGE


class NotBuiltYet(CtoopsError):
    """A command whose issue has not landed: it says so rather than faking output."""

    exit_code = EXIT_UNKNOWN
