"""What `ctoops install systemd` needs to know about this host. Read-only.

Who runs the installer, whether systemd (and the user's manager) is running,
where systemctl and timeout live, what is installed now, and how this very
ctoops was started, so the units run the same code: the console script found
from sys.argv[0], else the interpreter with `-m ctoops`, and never a version
manager's shim (pyenv, asdf, mise): a shim chooses the interpreter from the
caller's environment and shell start-up files, which a systemd unit does not have.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEMD_RUN_DIR = Path("/run/systemd/system")
LINGER_DIR = Path("/var/lib/systemd/linger")
JOURNAL_GROUP = "systemd-journal"
_SHIM_MARKERS = (b"pyenv\" exec", b"pyenv exec", b"asdf exec", b"PYENV_ROOT", b"mise exec")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class ExecChoice:
    """How the units will start ctoops."""

    argv: tuple[str, ...]
    how: str  # "--exec", "console script", "interpreter -m ctoops"
    exists: bool  # the first word is an executable file
    shim: bool  # the first word is a version manager's shim
    importable: bool | None  # -m mode: the interpreter imports ctoops on its own
    code_paths: tuple[str, ...]  # what must stay readable to run it
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstalledFile:
    path: Path  # where it is on disk (the --prefix applied)
    kind: str  # missing | file | symlink | other | blocked
    data: bytes | None


@dataclass(frozen=True)
class HostFacts:
    euid: int
    invoking: Account
    service: Account | None  # the system units' User=, when that account exists
    xdg_config_home: str
    systemd_running: bool
    user_manager_running: bool
    lingering: bool  # the user's manager runs without a login session
    systemctl: str
    timeout: str
    journal_group: str | None


def account_by_name(name: str) -> Account | None:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir)


def current_account() -> Account:
    uid = os.geteuid()
    try:
        pw = pwd.getpwuid(uid)
        return Account(pw.pw_name, uid, pw.pw_gid, os.environ.get("HOME") or pw.pw_dir)
    except KeyError:  # a uid without a passwd entry (containers)
        return Account(str(uid), uid, os.getegid(), os.environ.get("HOME", "/"))


def read_facts(service_user: str | None, run_dir: Path = SYSTEMD_RUN_DIR) -> HostFacts:
    me = current_account()
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{me.uid}"
    try:
        grp.getgrnam(JOURNAL_GROUP)
        journal: str | None = JOURNAL_GROUP
    except KeyError:
        journal = None
    return HostFacts(
        euid=os.geteuid(),
        invoking=me,
        service=account_by_name(service_user) if service_user else None,
        xdg_config_home=os.environ.get("XDG_CONFIG_HOME") or str(Path(me.home) / ".config"),
        systemd_running=run_dir.is_dir(),
        user_manager_running=(Path(runtime) / "systemd" / "private").exists(),
        lingering=(LINGER_DIR / me.name).exists(),
        systemctl=shutil.which("systemctl") or "/usr/bin/systemctl",
        timeout=shutil.which("timeout") or "/usr/bin/timeout",
        journal_group=journal,
    )


def is_shim(path: str) -> bool:
    """A version manager's shim: a file in a `shims` folder, or a small script that
    hands over to `pyenv exec` / `asdf exec` / `mise exec`."""
    p = Path(path)
    if "shims" in p.parent.parts:
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and any(marker in head for marker in _SHIM_MARKERS)


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def _importable(executable: str) -> bool:
    """Does this interpreter import ctoops on its own (no PYTHONPATH, not from the
    current folder)? A source checkout run through PYTHONPATH would not, under systemd."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        done = subprocess.run([executable, "-c", "import ctoops"], cwd="/", env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _code_paths(first: str, ours: bool = True) -> tuple[str, ...]:
    """The executable, its real file, and (when it is this ctoops) its environment
    and package folder: what ProtectHome= and PrivateTmp= must leave readable."""
    paths = [first, os.path.realpath(first)]
    if ours:
        paths += [sys.prefix, str(Path(__file__).resolve().parent.parent)]
    return tuple(dict.fromkeys(p for p in paths if p))


def resolve_exec(explicit: str | None, argv0: str | None = None,
                 executable: str | None = None) -> ExecChoice:
    """The command the units run. `--exec` wins (taken as given; a shim is reported
    so the caller can refuse it). Otherwise the console script that started us, and
    when that is missing or a shim, the running interpreter with `-m ctoops`."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = executable or sys.executable
    if explicit:
        return ExecChoice((explicit,), "--exec", _is_executable(explicit), is_shim(explicit),
                          None, _code_paths(explicit, ours=False))
    notes: list[str] = []
    candidate = argv0
    if candidate and "/" not in candidate:
        candidate = shutil.which(candidate) or ""
    if candidate:
        candidate = os.path.abspath(candidate)
    runs_as_module = not candidate or Path(candidate).name == "__main__.py" or argv0 == "-m"
    if not runs_as_module and is_shim(candidate):
        notes.append(f"{candidate} is a version manager's shim; the units run the interpreter "
                     f"behind it instead ({executable} -m ctoops)")
        runs_as_module = True
    if not runs_as_module and not _is_executable(candidate):
        runs_as_module = True
    if not runs_as_module:
        return ExecChoice((candidate,), "console script", True, False, None,
                          _code_paths(candidate), tuple(notes))
    importable = _importable(executable)
    if not importable:
        notes.append(f"{executable} cannot import ctoops without this shell's PYTHONPATH: "
                     f"install it into that interpreter (pip install .) or pass --exec")
    return ExecChoice((executable, "-m", "ctoops"), "interpreter -m ctoops",
                      _is_executable(executable), is_shim(executable), importable,
                      _code_paths(executable), tuple(notes))


def load_templates(names: tuple[str, ...]) -> dict[str, str]:
    """The unit templates shipped in the package (ctoops/templates/)."""
    from importlib import resources

    folder = resources.files("ctoops").joinpath("templates")
    return {name: folder.joinpath(name).read_text(encoding="utf-8") for name in names}


def read_installed(path: Path) -> InstalledFile:
    """What is at `path` now, without following a symlink (a masked unit is a link
    to /dev/null: it is reported, never written through)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return InstalledFile(path, "missing", None)
    except NotADirectoryError:  # a file stands where a folder on the path should be
        return InstalledFile(path, "blocked", None)
    if stat.S_ISLNK(st.st_mode):
        return InstalledFile(path, "symlink", None)
    if not stat.S_ISREG(st.st_mode):
        return InstalledFile(path, "other", None)
    return InstalledFile(path, "file", path.read_bytes())


def path_owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None
