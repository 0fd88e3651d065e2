"""Carry out an install plan: write unit files, remove what an install wrote, run
systemctl, create the workspace, edit the config. The effector half of
`ctoops install|uninstall systemd`.

Files are replaced atomically with an explicit mode (0644 for units: systemd,
polkitd and the user's manager read them, whatever the installer's umask), and
keep their owner when rewritten. A removal checks the file is still the one the
install wrote (same sha256) and a regular file: a link is never followed and an
edited file is left for its editor.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ctoops.config import default_config_text
from ctoops.errors import ActionFailed
from ctoops.policy.install_plan import sha256
from ctoops.subproc import CommandResult, run_command
from ctoops.workspace import DIR_MODE, FILE_MODE, atomic_write, make_dirs

SYSTEMCTL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Removal:
    target: str
    outcome: str  # removed | missing | modified | not_a_file


def on_disk(target: str, prefix: str | None) -> Path:
    """Where a host path lands: under --prefix (as DESTDIR does) or as is."""
    return Path(prefix) / target.lstrip("/") if prefix else Path(target)


def unwritable(paths: list[Path]) -> list[str]:
    """Problems that would stop a write half-way, found before anything is written:
    the nearest existing folder of each path must be writable."""
    problems: list[str] = []
    for path in paths:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"cannot write under {folder}")
    return sorted(set(problems))


def remove_written(path: Path, target: str, expected_sha: str) -> Removal:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return Removal(target, "missing")
    if not stat.S_ISREG(st.st_mode):
        return Removal(target, "not_a_file")
    if sha256(path.read_bytes()) != expected_sha:
        return Removal(target, "modified")
    path.unlink()
    return Removal(target, "removed")


def remove_empty_dirs(folders: list[Path]) -> list[Path]:
    """Remove folders the install created, deepest first, only when empty."""
    removed: list[Path] = []
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()
                removed.append(folder)
        except OSError:
            continue
    return removed


def run_steps(commands: list[list[str]]) -> list[CommandResult]:
    """Run systemctl commands in order, stopping at the first that fails."""
    results: list[CommandResult] = []
    for argv in commands:
        result = run_command(argv, SYSTEMCTL_TIMEOUT_S)
        results.append(result)
        if not result.ok:
            break
    return results


def create_workspace(root: Path, owner: tuple[int, int] | None) -> list[str]:
    """A new workspace: its folders and the packaged default config, owned by the
    service user when the installer is root (the timers run as that user)."""
    created = [str(p) for p in make_dirs(root, DIR_MODE)]
    for sub in ("config", "logs", "memory", "docs"):
        created += [str(p) for p in make_dirs(root / sub, DIR_MODE)]
    config = root / "config" / "ctoops.yaml"
    if not config.exists():
        atomic_write(config, default_config_text().encode("utf-8"), FILE_MODE, owner)
        created.append(str(config))
    if owner is not None:
        for path in created:
            os.chown(path, *owner, follow_symlinks=False)
    return created


def write_config_text(path: Path, text: str) -> None:
    """Replace the config keeping its mode and owner (a root installer must not
    leave the service user a config it cannot read)."""
    st = path.stat()
    owner = (st.st_uid, st.st_gid) if os.geteuid() == 0 else None
    try:
        atomic_write(path, text.encode("utf-8"), stat.S_IMODE(st.st_mode), owner)
    except OSError as exc:
        raise ActionFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
