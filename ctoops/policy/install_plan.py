"""Plan an install or uninstall of ctoops's systemd units (R29-R31). Pure.

From the options, the host facts, the configuration and what is on disk now, say
which files to write or remove (text, mode, where), which systemctl commands
follow, and what a person must still do (the sudoers line, the restart_command).
`commands/install.py` carries the plan out; nothing here touches the host.

The three restart ways (DESIGN.md, "How the gateway is restarted"):
- user:   --user install; the gateway is a user unit; `systemctl --user restart`.
- polkit: --system install (default); a polkit rule lets the service user restart
          that one unit, so the services keep NoNewPrivileges=yes.
- sudo:   --system, on request; one sudoers line naming exactly the command, and
          NoNewPrivileges=no on the services that may restart.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ctoops.config import Config
from ctoops.errors import ActionFailed, UsageError
from ctoops.policy import units
from ctoops.policy.units import (
    DROPIN_NAME,
    JOBS,
    NOTICE_SERVICE,
    POLKIT_NAME,
    SYSTEM,
    USER,
    WAY_POLKIT,
    WAY_SUDO,
    WAY_USER,
    RenderInput,
)

UNIT_MODE = 0o644  # systemd, polkitd and the user's manager must read them
SYSTEM_UNIT_DIR = "/etc/systemd/system"
SYSTEM_ETC_DIR = "/etc/ctoops"
SYSTEM_WORKSPACE = "/var/lib/ctoops"
POLKIT_DIR = "/etc/polkit-1/rules.d"
MANIFEST_NAME = "install-manifest.json"
MANIFEST_VERSION = 1
TEMPLATES = ("ctoops-job.service.in", "ctoops-job.timer.in", "ctoops-gateway-up.service.in",
             "gateway-dropin.conf.in", "polkit-gateway-restart.rules.in")


@dataclass(frozen=True)
class InstallOptions:
    scope: str | None = None  # user | system | None: user unless run as root
    way: str | None = None  # user | polkit | sudo | None: the scope's default
    prefix: str | None = None
    exec_path: str | None = None
    workspace: str | None = None
    service_user: str | None = None
    write_config: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class PlannedFile:
    target: str  # the path on the host (without --prefix)
    text: str
    role: str  # service | timer | dropin | polkit
    mode: int = UNIT_MODE


@dataclass(frozen=True)
class InstallPlan:
    scope: str
    way: str
    service_user: str
    workspace: str
    unit_dir: str
    etc_dir: str
    manifest_path: str
    files: tuple[PlannedFile, ...]
    timers: tuple[str, ...]
    restart_command: tuple[str, ...]
    config_keys: dict[str, Any]
    sudoers_line: str | None


@dataclass(frozen=True)
class FileChange:
    target: str
    status: str  # new | changed | same
    diff: str


@dataclass(frozen=True)
class Manifest:
    """What an install wrote, so uninstall removes exactly that (and only if unedited)."""

    scope: str
    way: str
    files: dict[str, str]  # target -> sha256 of what was written
    dirs: tuple[str, ...]  # folders the install created (removed when left empty)
    timers: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def choose_scope(requested: str | None, euid: int) -> str:
    return requested or (SYSTEM if euid == 0 else USER)


def choose_way(scope: str, requested: str | None) -> str:
    way = requested or (WAY_USER if scope == USER else WAY_POLKIT)
    if way not in (WAY_USER, WAY_POLKIT, WAY_SUDO):
        raise UsageError(f"--restart-via {way!r}: expected user, polkit or sudo")
    if scope == USER and way != WAY_USER:
        raise UsageError(f"--restart-via {way} is for --system installs (a system gateway "
                         "unit); a --user install restarts the gateway as a user unit "
                         "(--restart-via user)")
    if scope == SYSTEM and way == WAY_USER:
        raise UsageError("--restart-via user needs --user: a system service cannot restart "
                         "a unit of a user's manager; use --restart-via polkit or sudo")
    return way


def choose_workspace(explicit: str | None, root_option: str | None, scope: str,
                     user_state_home: str) -> str:
    """--workspace, else the global --root, else /var/lib/ctoops (system) or the
    embedded default $XDG_STATE_HOME/ctoops (user). Never the current folder: a unit
    must point at a place chosen on purpose."""
    chosen = explicit or root_option or (SYSTEM_WORKSPACE if scope == SYSTEM else user_state_home)
    if not posixpath.isabs(chosen):
        raise UsageError(f"workspace {chosen!r} must be an absolute path")
    return posixpath.normpath(chosen)


def unit_dir(scope: str, xdg_config_home: str) -> str:
    return SYSTEM_UNIT_DIR if scope == SYSTEM else posixpath.join(xdg_config_home, "systemd", "user")


def etc_dir(scope: str, xdg_config_home: str) -> str:
    """Where the secrets file and the install manifest live."""
    return SYSTEM_ETC_DIR if scope == SYSTEM else posixpath.join(xdg_config_home, "ctoops")


def resolve_dir(configured: str, home: str, workspace: str) -> str:
    """A gateway path from the config as the *service* sees it: `~` is the service
    user's home (not the installer's), a relative path lies under the workspace."""
    if configured == "~" or configured.startswith("~/"):
        configured = home + configured[1:]
    if configured.startswith("~"):
        raise UsageError(f"cannot resolve {configured!r}: use an absolute path")
    if not posixpath.isabs(configured):
        configured = posixpath.join(workspace, configured)
    return posixpath.normpath(configured)


def restart_extra_s(cfg: Config) -> int:
    """How much longer a run that may restart can take: the restart itself (the
    gateway drains up to 315 s), the wait for ready, the settle and the notice."""
    total = (cfg.gateway.restart_timeout_s + cfg.gateway.ready_timeout_s + cfg.gateway.settle_s
             + cfg.notify.restart_notice_delay_s)
    return int(math.ceil(total / 60.0) * 60)


def build_render_input(scope: str, way: str, service_user: str, service_home: str,
                       workspace: str, config_file: str | None, cfg: Config,
                       exec_argv: tuple[str, ...], code_paths: tuple[str, ...],
                       xdg_config_home: str, systemctl: str, timeout: str,
                       journal_group: str | None) -> RenderInput:
    """Resolve and check every value a unit line will carry; an unusable path is a
    clear error naming what it is, before anything is rendered."""
    state_dir = resolve_dir(cfg.gateway.state_dir, service_home, workspace)
    log_dir = resolve_dir(cfg.gateway.log_dir, service_home, workspace)
    for value, what in ((workspace, "workspace"), (state_dir, "gateway.state_dir"),
                        (log_dir, "gateway.log_dir"), (config_file, "config file"),
                        (xdg_config_home, "XDG_CONFIG_HOME"), (systemctl, "systemctl"),
                        (timeout, "timeout")):
        if value is not None:
            units.checked_path(value, what)
    for word in exec_argv:
        units.exec_word(word, "ctoops executable")
    return RenderInput(
        scope=scope, way=way, service_user=units.check_account(service_user),
        journal_group=journal_group if scope == SYSTEM else None,
        exec_argv=exec_argv, workspace=workspace, config_file=config_file,
        gateway_unit=units.gateway_service(cfg.gateway.unit),
        state_dir=state_dir, log_dir=log_dir,
        env_file=posixpath.join(etc_dir(scope, xdg_config_home), "env"),
        systemctl=systemctl, timeout=timeout, gpu=cfg.resources.gpu_enabled,
        zombie_restarts=cfg.zombie.auto_restart_zombie,
        restart_extra_s=restart_extra_s(cfg), code_paths=code_paths)


def render_files(ri: RenderInput, udir: str, templates: dict[str, str]) -> list[PlannedFile]:
    svc, tmr, notice, dropin, polkit = (templates[name] for name in TEMPLATES)
    files: list[PlannedFile] = []
    for job in JOBS:
        files.append(PlannedFile(posixpath.join(udir, units.service_name(job)),
                                 units.render_job_service(ri, job, svc), "service"))
        files.append(PlannedFile(posixpath.join(udir, units.timer_name(job)),
                                 units.render_timer(job, tmr), "timer"))
    dropin_path = posixpath.join(udir, ri.gateway_unit + ".d", DROPIN_NAME)
    files.append(PlannedFile(posixpath.join(udir, NOTICE_SERVICE),
                             units.render_notice_service(ri, notice, dropin_path), "service"))
    files.append(PlannedFile(dropin_path, units.render_dropin(ri, dropin, dropin_path), "dropin"))
    if ri.way == WAY_POLKIT:
        files.append(PlannedFile(posixpath.join(POLKIT_DIR, POLKIT_NAME),
                                 units.render_polkit(ri, polkit), "polkit"))
    return files


def plan_install(ri: RenderInput, udir: str, edir: str, templates: dict[str, str]) -> InstallPlan:
    files = render_files(ri, udir, templates)
    command = units.restart_command(ri)
    return InstallPlan(
        scope=ri.scope, way=ri.way, service_user=ri.service_user, workspace=ri.workspace,
        unit_dir=udir, etc_dir=edir, manifest_path=posixpath.join(edir, MANIFEST_NAME),
        files=tuple(files), timers=tuple(units.timer_name(j) for j in JOBS),
        restart_command=command,
        config_keys={"systemd_scope": USER if ri.way == WAY_USER else SYSTEM,
                     "restart_command": list(command)},
        sudoers_line=units.sudoers_line(ri))


def compare(files: list[PlannedFile] | tuple[PlannedFile, ...],
            installed: dict[str, tuple[str, bytes | None]]) -> list[FileChange]:
    """Each planned file against what is there: new, changed (with a unified diff) or
    the same. A symlink or a non-file in the way (a masked unit) stops the install."""
    changes: list[FileChange] = []
    for f in files:
        kind, data = installed.get(f.target, ("missing", None))
        if kind == "blocked":
            raise ActionFailed(f"{f.target}: a folder on its path is a file; move it away first")
        if kind in ("symlink", "other"):
            raise ActionFailed(f"{f.target} is a {'symlink' if kind == 'symlink' else 'non-file'}"
                               " (a masked unit?); ctoops will not write through it: remove "
                               "or unmask it first")
        old = "" if data is None else data.decode("utf-8", "replace")
        if data is not None and old == f.text:
            changes.append(FileChange(f.target, "same", ""))
            continue
        diff = "".join(difflib.unified_diff(
            old.splitlines(keepends=True), f.text.splitlines(keepends=True),
            fromfile=f.target if data is not None else "/dev/null", tofile=f.target))
        changes.append(FileChange(f.target, "new" if data is None else "changed", diff))
    return changes


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def stale_files(previous: Manifest | None, plan: InstallPlan) -> list[str]:
    """Files an earlier install wrote that this one no longer wants (the polkit rule
    after switching to sudo, say)."""
    if previous is None:
        return []
    wanted = {f.target for f in plan.files}
    return sorted(t for t in previous.files if t not in wanted)


def systemctl_argv(systemctl: str, scope: str, *args: str) -> list[str]:
    return [systemctl, *(["--user"] if scope == USER else []), *args]


def install_commands(plan: InstallPlan, systemctl: str) -> list[list[str]]:
    return [systemctl_argv(systemctl, plan.scope, "daemon-reload"),
            systemctl_argv(systemctl, plan.scope, "enable", "--now", *plan.timers)]


def uninstall_commands(manifest: Manifest, systemctl: str) -> tuple[list[list[str]], list[list[str]]]:
    """(before removing the files, after removing them)."""
    before = ([systemctl_argv(systemctl, manifest.scope, "disable", "--now", *manifest.timers)]
              if manifest.timers else [])
    return before, [systemctl_argv(systemctl, manifest.scope, "daemon-reload")]


def manifest_json(plan: InstallPlan, dirs: list[str]) -> str:
    doc = {"version": MANIFEST_VERSION, "tool": "ctoops install systemd", "scope": plan.scope,
           "way": plan.way, "service_user": plan.service_user, "workspace": plan.workspace,
           "files": {f.target: sha256(f.text) for f in plan.files},
           "dirs": sorted(set(dirs)), "timers": list(plan.timers)}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def parse_manifest(raw: bytes, where: str) -> Manifest:
    try:
        doc = json.loads(raw)
        files = doc["files"]
        if doc.get("version") != MANIFEST_VERSION or not isinstance(files, dict) or not all(
                isinstance(k, str) and posixpath.isabs(k) and isinstance(v, str)
                for k, v in files.items()):
            raise ValueError("unexpected layout")
        return Manifest(str(doc["scope"]), str(doc["way"]), dict(files),
                        tuple(str(d) for d in doc.get("dirs", [])),
                        tuple(str(t) for t in doc.get("timers", [])),
                        {k: v for k, v in doc.items() if k not in ("files", "dirs", "timers")})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ActionFailed(f"install manifest {where} is unreadable ({exc}); remove the "
                           "ctoops-*.service/.timer files by hand") from exc


def config_snippet(keys: dict[str, Any]) -> str:
    """The lines to add under `gateway:` in the workspace config, as YAML (JSON
    flow values are valid YAML)."""
    body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in keys.items())
    return "gateway:\n" + body
