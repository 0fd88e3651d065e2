"""Render ctoops's systemd units from the packaged templates (R29-R31). Pure.

Everything host-specific (paths, user, scope, the restart way) arrives resolved in
one `RenderInput`; the output is text. Each sandbox line that differs between
jobs or ways is decided here, in one place, with the reason next to it, so the
templates stay readable and docs/systemd.md can point at this module.

Deliberately not here: reading the host (probes/install_host.py), choosing paths
and comparing with what is installed (policy/install_plan.py), writing files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctoops.errors import UsageError

SYSTEM, USER = "system", "user"
WAY_USER, WAY_POLKIT, WAY_SUDO = "user", "polkit", "sudo"
NOTICE_SERVICE = "ctoops-gateway-up.service"
DROPIN_NAME = "ctoops.conf"
POLKIT_NAME = "50-ctoops-gateway-restart.rules"
HOME_ROOTS = ("/home", "/root", "/run/user")
TMP_ROOTS = ("/tmp", "/var/tmp")
# sudo and its PAM stack need these to become root; nothing else gets any capability.
SUDO_CAPABILITIES = "CAP_SETUID CAP_SETGID CAP_AUDIT_WRITE CAP_SYS_RESOURCE"
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.@-]+$")
_ACCOUNT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_UNSAFE_IN_UNIT = re.compile(r"[\s\"'\\;\x00-\x1f\x7f]")
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass(frozen=True)
class Job:
    """One periodic subcommand: its own service and its own timer (no instances, so
    `systemctl list-timers` names each one)."""

    name: str  # unit stem after "ctoops-"
    argv: tuple[str, ...]  # the ctoops subcommand
    second: int  # OnCalendar second: staggered so they never start together
    summary: str
    urgent: bool  # protects the gateway now: normal IO class, mild nice
    base_timeout_s: int
    reads_gateway_logs: bool  # the gateway's JSON logs (gateway.log_dir, /tmp/openclaw)
    reads_journal: bool
    sees_processes: bool  # must see the gateway's process (maybe another user's)
    uses_gpu: bool


JOBS: tuple[Job, ...] = (
    Job("check-resources", ("check", "resources"), 5,
        "host and gateway CPU, memory, IO, GPU; P1 and P1b (R1, R8-R12)",
        urgent=True, base_timeout_s=120, reads_gateway_logs=False, reads_journal=False,
        sees_processes=True, uses_gpu=True),
    Job("check-sessions", ("check", "sessions"), 20,
        "sessions, subagents, tasks and heartbeat; P2 (R2, R3, R17-R19)",
        urgent=False, base_timeout_s=120, reads_gateway_logs=False, reads_journal=False,
        sees_processes=True, uses_gpu=False),
    Job("retry-storm", ("retry-storm",), 35,
        "repeated errors and the chain freeze; P3 (R4, R20, R21)",
        urgent=False, base_timeout_s=120, reads_gateway_logs=True, reads_journal=True,
        sees_processes=False, uses_gpu=False),
    Job("zombie-report", ("zombie-report",), 50,
        "hung gateway incident; P4 (R22-R24)",
        urgent=True, base_timeout_s=180, reads_gateway_logs=True, reads_journal=True,
        sees_processes=True, uses_gpu=False),
)


@dataclass(frozen=True)
class RenderInput:
    """Everything the units depend on, already resolved for one host."""

    scope: str  # system | user
    way: str  # user | polkit | sudo: how the gateway is restarted
    service_user: str  # User= of system units; the installing user for user units
    journal_group: str | None  # SupplementaryGroups= for journal readers (system scope)
    exec_argv: tuple[str, ...]  # how to run ctoops: a console script, or python -m ctoops
    workspace: str
    config_file: str | None  # only when --config was given explicitly
    gateway_unit: str  # e.g. openclaw-gateway.service
    state_dir: str  # the gateway's state root, ~ already expanded for the service user
    log_dir: str
    env_file: str
    systemctl: str
    timeout: str
    gpu: bool  # resources.gpu_enabled: NVML needs /dev/nvidia*
    zombie_restarts: bool  # zombie.auto_restart_zombie
    restart_extra_s: int  # how much longer a run that may restart the gateway can take
    code_paths: tuple[str, ...] = ()  # what the units must read to run ctoops itself


def service_name(job: Job) -> str:
    return f"ctoops-{job.name}.service"


def timer_name(job: Job) -> str:
    return f"ctoops-{job.name}.timer"


def gateway_service(unit: str) -> str:
    name = unit if unit.endswith(".service") else unit + ".service"
    if not _UNIT_NAME.match(name):
        raise UsageError(f"gateway.unit {unit!r} is not a valid systemd unit name")
    return name


def check_account(name: str) -> str:
    if not _ACCOUNT.match(name):
        raise UsageError(f"service user {name!r} is not a valid user name")
    return name


def checked_path(value: str, what: str) -> str:
    """A path a unit line can carry: absolute, no blanks or quotes (a unit would
    split or misread them). Returned unescaped."""
    if not value.startswith("/"):
        raise UsageError(f"{what} {value!r} must be an absolute path")
    if _UNSAFE_IN_UNIT.search(value):
        raise UsageError(f"{what} {value!r} contains a blank, a quote, a backslash or a "
                         "control character; systemd unit lines cannot carry it safely: "
                         "choose a path without them")
    return value


def unit_path(value: str, what: str) -> str:
    """checked_path, with `%` doubled so systemd does not expand it as a specifier."""
    return checked_path(value, what).replace("%", "%%")


def exec_word(value: str, what: str) -> str:
    """One word of an Exec*= line: as unit_path (for paths), plus `$` doubled so
    systemd does not substitute an environment variable."""
    if _UNSAFE_IN_UNIT.search(value) or not value:
        raise UsageError(f"{what} {value!r} is empty or contains a blank, a quote, a "
                         "backslash or a control character")
    return value.replace("%", "%%").replace("$", "$$")


def under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def may_restart(job: Job, ri: RenderInput) -> bool:
    """P1b (check resources) restarts the gateway; zombie-report only when configured."""
    return job.name == "check-resources" or (job.name == "zombie-report" and ri.zombie_restarts)


def restart_command(ri: RenderInput) -> tuple[str, ...]:
    """The gateway.restart_command matching the chosen way (DESIGN.md)."""
    unit = ri.gateway_unit
    if ri.way == WAY_USER:
        return ("systemctl", "--user", "restart", unit)
    bare = unit.removesuffix(".service")
    if ri.way == WAY_POLKIT:
        return ("systemctl", "restart", bare)
    return ("sudo", "-n", ri.systemctl, "restart", bare)


def sudoers_line(ri: RenderInput) -> str | None:
    """The one sudoers line the sudo way needs: exactly that command, nothing more."""
    if ri.way != WAY_SUDO:
        return None
    bare = ri.gateway_unit.removesuffix(".service")
    return f"{ri.service_user} ALL=(root) NOPASSWD: {ri.systemctl} restart {bare}"


def render_template(template: str, values: dict[str, str]) -> str:
    """`{{name}}` substitution. A line that is only a placeholder rendering empty is
    dropped. Unknown or unused names are errors: templates and code stay in step."""
    used: set[str] = set()
    out: list[str] = []
    for line in template.splitlines():
        names = _PLACEHOLDER.findall(line)
        for name in names:
            if name not in values:
                raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
            used.add(name)
        rendered = _PLACEHOLDER.sub(lambda m: values[m.group(1)], line)
        if names and not rendered.strip() and line.strip() == f"{{{{{names[0]}}}}}":
            continue
        out.append(rendered)
    unused = set(values) - used
    if unused:
        raise KeyError(f"values never used by the template: {sorted(unused)}")
    return "\n".join(out) + "\n"


def _exec_start(ri: RenderInput, argv: tuple[str, ...]) -> str:
    words = [exec_word(w, "ctoops executable") for w in ri.exec_argv]
    words += ["--root", exec_word(checked_path(ri.workspace, "workspace"), "workspace")]
    if ri.config_file:
        words += ["--config", exec_word(checked_path(ri.config_file, "config file"),
                                        "config file")]
    return " ".join(words + list(argv))


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths that lie inside another listed one (binding the outer suffices)."""
    unique = list(dict.fromkeys(p for p in paths if p))
    return [p for p in unique if not any(o != p and under(p, (o,)) for o in unique)]


def _path_lines(ri: RenderInput, rw: list[tuple[str, bool]], ro: list[str]) -> list[str]:
    """ProtectSystem=strict makes all read-only: writable places are listed. A path
    under /tmp is bound from the host's /tmp (PrivateTmp=yes would hide it)."""
    lines: list[str] = []
    for path, optional in rw:
        dash = "-" if optional else ""
        key = "BindPaths" if under(path, TMP_ROOTS) else "ReadWritePaths"
        lines.append(f"{key}={dash}{unit_path(path, key)}")
    for path in _outermost(ro):
        if under(path, TMP_ROOTS):
            lines.append(f"BindReadOnlyPaths=-{unit_path(path, 'BindReadOnlyPaths')}")
    return lines


def _protect_home(ri: RenderInput, paths: list[str], talks_to_user_manager: bool) -> str:
    """`yes` hides /home, /root and /run/user; `read-only` when something ctoops needs
    lives there (ReadWritePaths= still opens the workspace and the gateway state),
    or when it must reach the user manager's socket under /run/user."""
    needed = [p for p in paths if p] + list(ri.code_paths)
    if talks_to_user_manager or any(under(p, HOME_ROOTS) for p in needed):
        return "read-only"
    return "yes"


def _identity(ri: RenderInput, journal: bool) -> str:
    if ri.scope != SYSTEM:
        return ""
    lines = [f"User={check_account(ri.service_user)}"]
    if journal and ri.journal_group:
        lines.append("# journalctl -u <gateway> needs the journal readers' group.")
        lines.append(f"SupplementaryGroups={ri.journal_group}")
    return "\n".join(lines)


def _devices(ri: RenderInput, job: Job) -> str:
    if not (job.uses_gpu and ri.gpu):
        return "PrivateDevices=yes"
    if ri.scope == USER:
        return ("# GPU (NVML): no PrivateDevices= (it would hide /dev/nvidia*), and a user\n"
                "# manager cannot filter devices, so /dev stays as the user sees it.")
    return ("# GPU (NVML): PrivateDevices= would hide /dev/nvidia*; allow only those.\n"
            "DevicePolicy=closed\nDeviceAllow=char-nvidia* rw")


def _way_line(ri: RenderInput) -> str:
    if ri.scope == USER:
        return "a user install (systemctl --user); the gateway restarts as a user unit"
    return f"a system install running as {ri.service_user}; the gateway restarts via {ri.way}"


def render_job_service(ri: RenderInput, job: Job, template: str) -> str:
    restarts = may_restart(job, ri)
    sudo = restarts and ri.way == WAY_SUDO
    reads = [ri.log_dir] if job.reads_gateway_logs else []
    talks_user = ri.scope == USER and (restarts or job.sees_processes)
    rw = [(ri.workspace, False), (ri.state_dir, True)]
    if sudo:
        rw.append(("/run/sudo", True))
    paths = ["# Writable: the workspace, and the gateway state (the safe restart prunes it,\n"
             "# R13.2; read-only SQLite readers still need its WAL -shm files writable).",
             *_path_lines(ri, rw, [*reads, ri.config_file or "", *ri.code_paths])]
    deny = "" if sudo else "SystemCallFilter=~@privileged @resources"
    if sudo:
        deny = ("# sudo way: no ~@privileged/@resources deny list (sudo and PAM call setresuid,\n"
                "# setgroups and setrlimit to become root for the one sudoers command).")
    proc = ""
    if not job.sees_processes and ri.scope == SYSTEM:
        proc = "ProtectProc=invisible"
    values = {
        "unit": service_name(job),
        "way_line": _way_line(ri),
        "command": " ".join(job.argv),
        "summary": job.summary,
        "identity": _identity(ri, job.reads_journal),
        "exec_start": _exec_start(ri, job.argv),
        "env_file": unit_path(ri.env_file, "environment file"),
        "unit_stem": f"ctoops-{job.name}",
        "success_status": "1 2",
        "timeout_start_s": str(job.base_timeout_s + (ri.restart_extra_s if restarts else 0)),
        "nice": "5" if job.urgent else "15",
        "io_class": "best-effort" if job.urgent else "idle",
        "no_new_privileges": "no" if sudo else "yes",
        "paths": "\n".join(paths),
        "protect_home": _protect_home(ri, [ri.workspace, ri.state_dir, ri.config_file or "",
                                           *reads], talks_user),
        "devices": _devices(ri, job),
        "proc": proc,
        # Node's JIT (the openclaw CLI the safe restart runs) needs W+X pages.
        "mdwe": "no" if restarts else "yes",
        "syscall_deny": deny,
        "capabilities": SUDO_CAPABILITIES if sudo else "",
    }
    return render_template(template, values)


def render_timer(job: Job, template: str) -> str:
    return render_template(template, {
        "unit": timer_name(job), "command": " ".join(job.argv),
        "second": f"{job.second:02d}", "service": service_name(job)})


def render_notice_service(ri: RenderInput, template: str, dropin_path: str) -> str:
    # Not ProcSubset=pid: importing psutil reads /proc/stat, and the notifier may.
    proc = "ProtectProc=invisible" if ri.scope == SYSTEM else ""
    return render_template(template, {
        "unit": NOTICE_SERVICE,
        "way_line": _way_line(ri),
        "dropin": dropin_path,
        "gateway_service": ri.gateway_unit,
        "identity": _identity(ri, False),
        "exec_start": _exec_start(ri, ("notify", "gateway-up")),
        "env_file": unit_path(ri.env_file, "environment file"),
        "unit_stem": "ctoops-gateway-up",
        "timeout_start_s": "60",
        "nice": "5",
        "io_class": "best-effort",
        "paths": "\n".join(_path_lines(ri, [(ri.workspace, False)],
                                        [ri.config_file or "", *ri.code_paths])),
        "protect_home": _protect_home(ri, [ri.workspace, ri.config_file or ""], False),
        "proc": proc,
    })


def render_dropin(ri: RenderInput, template: str, dropin_path: str) -> str:
    user_flag = ["--user"] if ri.scope == USER else []
    plus = "" if ri.scope == USER else "+"
    argv = [ri.timeout, "10", ri.systemctl, *user_flag, "start", "--no-block", NOTICE_SERVICE]
    plus_note = "" if ri.scope == USER else (
        "# - the \"+\" prefix: only this systemctl call runs with full privileges (the\n"
        "#   gateway's own user may not start units); it starts one fixed unit, nothing else.")
    return render_template(template, {
        "unit": dropin_path,
        "service_user": ri.service_user,
        "notice_service": NOTICE_SERVICE,
        "plus_note": plus_note,
        "exec_start_post": "-" + plus + " ".join(exec_word(w, "command") for w in argv),
    })


def render_polkit(ri: RenderInput, template: str) -> str:
    return render_template(template, {
        "unit": POLKIT_NAME,
        "service_user": check_account(ri.service_user),
        "gateway_service": ri.gateway_unit,
        "restart_command": " ".join(restart_command(ri)),
    })
