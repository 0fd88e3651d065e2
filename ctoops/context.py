"""What every command is handed: the workspace, the config, the clock, the flags.

Built by `cli.py` from the global options; commands take it and nothing global.
The config is loaded, and its module imported, on first use, so a command that
needs none (gate, before every spawn) pays nothing for it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ctoops.clock import Clock, SystemClock
from ctoops.workspace import Workspace, discover_root

if TYPE_CHECKING:
    from ctoops.config import Config


@dataclass
class Context:
    command: str = ""
    root_option: str | None = None
    config_option: str | None = None
    json: bool = False
    dry_run: bool = False
    verbose: bool = False
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def workspace(self) -> Workspace:
        return discover_root(self.root_option)

    @cached_property
    def config_path(self) -> Path:
        if self.config_option:
            return Path(self.config_option).expanduser()
        return self.workspace.config_file

    @cached_property
    def config(self) -> Config:
        path = self.config_path
        if self.config_option and not path.exists():
            from ctoops.errors import ConfigError

            raise ConfigError(f"{path}: config file does not exist")
        from ctoops.config import load_config

        # The parsed-config cache lives beside the state; --dry-run writes nothing.
        return load_config(path, None if self.dry_run else self.workspace.memory_dir)

    def store(self):  # -> StateStore; imported lazily (state pulls in the audit code)
        from ctoops.state import StateStore

        return StateStore(self.workspace, self.clock, self.command,
                          self.config.guardrails, self.warn)

    def warn(self, message: str) -> None:
        """A line for the person or the journal, on stderr (never on --json stdout)."""
        from ctoops.redaction import scrub

        sys.stderr.write(f"ctoops: {scrub(message)}\n")

    def debug(self, message: str) -> None:
        if self.verbose:
            from ctoops.redaction import scrub

            sys.stderr.write(f"ctoops[debug]: {scrub(message)}\n")

    @property
    def is_auto(self) -> bool:
        """True under a timer (no TTY, INVOCATION_ID set by systemd)."""
        return bool(os.environ.get("INVOCATION_ID"))
