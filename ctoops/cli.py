"""The Typer app: options -> Context -> command function -> render.

Thin on purpose. Every command module is imported inside its command so a run
loads only what it uses (the every-minute path's cost is mostly imports). This is
the one place exceptions become exit codes (DESIGN.md, "Command-line contract").
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ctoops.context import Context
    from ctoops.report import Report


def _root_typer() -> typer.Typer:
    return typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Operational-health agent for hosts that run the OpenClaw gateway.")


app = _root_typer()
check_app = typer.Typer(no_args_is_help=True, help="Nagios-style checks (exit 0/1/2/3).")
config_app = typer.Typer(no_args_is_help=True, help="Validate or show the configuration.")
audit_app = typer.Typer(no_args_is_help=True, help="Read and verify the audit trail.")
approvals_app = typer.Typer(no_args_is_help=True, help="Actions held for a person (R25).")
gate_app = typer.Typer(no_args_is_help=True, help="May other tools spawn or chain? (0 yes, 1 no)")
notify_app = typer.Typer(no_args_is_help=True, help="Notification channels and the outbox.")
safe_mode_app = typer.Typer(no_args_is_help=True, help="Show or leave safe mode.")
install_app = typer.Typer(no_args_is_help=True, help="Install ctoops's systemd units.")
uninstall_app = typer.Typer(no_args_is_help=True, help="Remove ctoops's systemd units.")
for sub, name in ((check_app, "check"), (config_app, "config"), (audit_app, "audit"),
                  (approvals_app, "approvals"), (gate_app, "gate"), (notify_app, "notify"),
                  (safe_mode_app, "safe-mode"), (install_app, "install"),
                  (uninstall_app, "uninstall")):
    app.add_typer(sub, name=name)

CHECK, ACTION, GATE, HOOK = "check", "action", "gate", "hook"


@app.callback()
def _global(
    typer_ctx: typer.Context,
    root: Annotated[str | None, typer.Option("--root", envvar="CTOOPS_ROOT", help=(
        "Workspace holding config/, logs/, memory/, docs/."))] = None,
    config: Annotated[str | None, typer.Option("--config", envvar="CTOOPS_CONFIG", help=(
        "Config file (default: <root>/config/ctoops.yaml)."))] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be done; change nothing.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Explain more on stderr.")] = False,
) -> None:
    from ctoops.context import Context

    typer_ctx.obj = Context(root_option=root, config_option=config, json=json_out,
                            dry_run=dry_run, verbose=verbose)


def _run(typer_ctx: typer.Context, name: str, kind: str,
         body: Callable[[Context], Report]) -> None:
    """Run one command body, render its report, and leave with its exit code.
    Errors become one stderr line (and a JSON document with --json) here."""
    ctx: Context = typer_ctx.obj
    ctx.command = name
    try:
        from ctoops.report import render

        if kind in (CHECK, ACTION):
            _ = ctx.config  # a bad config fails here: 3 for checks, 78 for actions
        report = body(ctx)
        code = report.exit_code  # decided (and recorded) before anything is shown
        try:
            render(report, ctx.json)
        except BrokenPipeError:
            _stdout_gone()  # `ctoops ... | head`: the reader left; the verdict stands
        for note in report.notes:
            ctx.warn(note)
    except Exception as exc:
        code = _report_error(exc, name, kind, ctx.json)
    if kind != GATE and not ctx.dry_run and name != "notify flush":
        _flush_outbox(ctx)
    raise typer.Exit(code)


def _stdout_gone() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail
    again on the closed pipe."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _flush_outbox(ctx: Context) -> None:
    """Any run retries what Discord did not take yet (R22); with an empty outbox
    this is one listdir and no import."""
    import os

    from ctoops.errors import CtoopsError  # loaded already by the config

    try:
        names = os.listdir(ctx.workspace.outbox_dir)
    except FileNotFoundError:
        return  # nothing was ever queued
    except (OSError, CtoopsError) as exc:
        ctx.debug(f"notify: outbox not checked: {exc}")
        return
    if not any(n.endswith(".json") and not n.startswith(".") for n in names):
        return
    from ctoops.actions.notify import flush_quietly

    flush_quietly(ctx)


def _reason(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("a reason is required and must not be blank")
    return value


# --- the runbook's five subcommands (R29) ----------------------------------------
@check_app.command("resources")
def check_resources(
    typer_ctx: typer.Context,
    gateway_only: Annotated[bool, typer.Option("--gateway-only", help=(
        "Only the gateway's process and cgroup (P1b); what mc-resource-monitor.sh runs."))] = False,
    no_restart: Annotated[bool, typer.Option("--no-restart", help=(
        "Record a wanted P1b restart and report it (JSON gateway.restart) without running it."
    ))] = False,
) -> None:
    """Host CPU/memory/IO/GPU and the gateway's cgroup (P1, P1b)."""
    from ctoops.commands import check_resources as mod

    _run(typer_ctx, "check resources", CHECK,
         lambda ctx: mod.run(ctx, gateway_only=gateway_only, restart=not no_restart))


@check_app.command("sessions")
def check_sessions(typer_ctx: typer.Context) -> None:
    """The gateway's sessions, subagents, tasks and heartbeat (P2)."""
    from ctoops.commands import check_sessions as mod

    _run(typer_ctx, "check sessions", CHECK, mod.run)


@app.command("safe-restart")
def safe_restart(
    typer_ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", callback=_reason, help=(
        "Why (mandatory, R7); recorded in the audit log."))],
    auto: Annotated[bool, typer.Option("--auto", help="Started by a hook or timer.")] = False,
) -> None:
    """Restart the gateway through the runbook's guarded sequence (R13)."""
    from ctoops.commands import safe_restart as mod

    _run(typer_ctx, "safe-restart", ACTION, lambda ctx: mod.run(ctx, reason, auto))


@app.command("retry-storm")
def retry_storm(typer_ctx: typer.Context) -> None:
    """Detect repeated errors and freeze chained execution (P3)."""
    from ctoops.commands import retry_storm as mod

    _run(typer_ctx, "retry-storm", CHECK, mod.run)


@app.command("zombie-report")
def zombie_report(typer_ctx: typer.Context) -> None:
    """Detect a hung gateway, alert, collect the trail, escalate (P4)."""
    from ctoops.commands import zombie_report as mod

    _run(typer_ctx, "zombie-report", CHECK, mod.run)


# --- around them ----------------------------------------------------------------
@app.command("status")
def status(typer_ctx: typer.Context) -> None:
    """Limits, flags, pending approvals and safe mode, per subsystem."""
    from ctoops.commands import status as mod

    _run(typer_ctx, "status", CHECK, mod.run)


@safe_mode_app.command("show")
def safe_mode_show(typer_ctx: typer.Context) -> None:
    """Is the workspace in safe mode, and why."""
    from ctoops.commands import safe_mode as mod

    _run(typer_ctx, "safe-mode show", CHECK, mod.show)


@safe_mode_app.command("leave")
def safe_mode_leave(
    typer_ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", callback=_reason)],
) -> None:
    """Leave safe mode after checking the quarantined state (audited)."""
    from ctoops.commands import safe_mode as mod

    _run(typer_ctx, "safe-mode leave", ACTION, lambda ctx: mod.leave(ctx, reason))


@config_app.command("validate")
def config_validate(typer_ctx: typer.Context) -> None:
    """Load the configuration and report the first problem (exit 78)."""
    from ctoops.commands import config_cmd as mod

    _run(typer_ctx, "config validate", ACTION, mod.validate)


@config_app.command("show")
def config_show(typer_ctx: typer.Context) -> None:
    """The effective configuration, secrets redacted."""
    from ctoops.commands import config_cmd as mod

    _run(typer_ctx, "config show", ACTION, mod.show)


@audit_app.command("tail")
def audit_tail(
    typer_ctx: typer.Context,
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10000)] = 20,
) -> None:
    """The last audit records."""
    from ctoops.commands import audit_cmd as mod

    _run(typer_ctx, "audit tail", ACTION, lambda ctx: mod.tail(ctx, lines))


@audit_app.command("verify")
def audit_verify(typer_ctx: typer.Context) -> None:
    """Check the hash chain; exit 1 naming the first bad line."""
    from ctoops.commands import audit_cmd as mod

    _run(typer_ctx, "audit verify", ACTION, mod.verify)


@approvals_app.command("list")
def approvals_list(
    typer_ctx: typer.Context,
    all_records: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
) -> None:
    """Held actions waiting for a person."""
    from ctoops.commands import approvals as mod

    _run(typer_ctx, "approvals list", ACTION, lambda ctx: mod.list_(ctx, all_records))


@approvals_app.command("approve")
def approvals_approve(
    typer_ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", callback=_reason)],
    override_budget: Annotated[bool, typer.Option("--override-budget", help=(
        "Also pass the restart budget (audited as such)."))] = False,
) -> None:
    """Run a held action now (past the kill-switch, within the budget)."""
    from ctoops.commands import approvals as mod

    _run(typer_ctx, "approvals approve", ACTION,
                lambda ctx: mod.approve(ctx, approval_id, reason, override_budget))


@approvals_app.command("deny")
def approvals_deny(
    typer_ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", callback=_reason)],
) -> None:
    """Close a held action without running it."""
    from ctoops.commands import approvals as mod

    _run(typer_ctx, "approvals deny", ACTION,
                lambda ctx: mod.deny(ctx, approval_id, reason))


@gate_app.command("spawn")
def gate_spawn(typer_ctx: typer.Context) -> None:
    """0 when new risky spawns are allowed, 1 when blocked (R9)."""
    from ctoops.commands import gate as mod

    _run(typer_ctx, "gate spawn", GATE, mod.spawn)


@gate_app.command("chain")
def gate_chain(
    typer_ctx: typer.Context,
    job: Annotated[str | None, typer.Option("--job", help="A cron job id.")] = None,
) -> None:
    """0 when chained execution may run, 1 when frozen (R20)."""
    from ctoops.commands import gate as mod

    _run(typer_ctx, "gate chain", GATE, lambda ctx: mod.chain(ctx, job))


@notify_app.command("test")
def notify_test(typer_ctx: typer.Context) -> None:
    """Send a test message through the configured chain."""
    from ctoops.commands import notify_cmd as mod

    _run(typer_ctx, "notify test", ACTION, mod.test)


@notify_app.command("flush")
def notify_flush(typer_ctx: typer.Context) -> None:
    """Retry the undelivered messages in the outbox."""
    from ctoops.commands import notify_cmd as mod

    _run(typer_ctx, "notify flush", ACTION, mod.flush)


@notify_app.command("gateway-up")
def notify_gateway_up(typer_ctx: typer.Context) -> None:
    """For the gateway unit's ExecStartPost= (R13.7): fast, never fails the unit."""
    from ctoops.commands import notify_cmd as mod

    _run(typer_ctx, "notify gateway-up", HOOK, mod.gateway_up)


@install_app.command("systemd")
def install_systemd(
    typer_ctx: typer.Context,
    user_scope: Annotated[bool | None, typer.Option("--user/--system", help=(
        "User units (systemctl --user) or system units; default: --system as root, "
        "else --user."), show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the rendered units and the diff; write nothing.")] = False,
    prefix: Annotated[str | None, typer.Option("--prefix", metavar="DIR", help=(
        "Write the files under DIR (like DESTDIR); run no systemctl."))] = None,
    exec_path: Annotated[str | None, typer.Option("--exec", metavar="PATH", help=(
        "The ctoops executable the units run (default: the one running now)."))] = None,
    restart_via: Annotated[str | None, typer.Option("--restart-via", metavar="user|polkit|sudo",
        help="How the gateway is restarted (default: user for --user, polkit for --system)."
        )] = None,
    workspace: Annotated[str | None, typer.Option("--workspace", metavar="DIR", help=(
        "The workspace the units use (default: --root, else /var/lib/ctoops for "
        "--system, $XDG_STATE_HOME/ctoops for --user)."))] = None,
    service_user: Annotated[str | None, typer.Option("--service-user", metavar="NAME", help=(
        "--system: the user the services run as (default: ctoops)."))] = None,
    write_config: Annotated[bool, typer.Option("--write-config", help=(
        "Also set gateway.restart_command and systemd_scope in the workspace config."
        ))] = False,
) -> None:
    """Render and install the units and timers for this host (shows a diff first)."""
    from ctoops.commands import install as mod
    from ctoops.policy.install_plan import InstallOptions

    opts = InstallOptions(scope=None if user_scope is None else ("user" if user_scope else "system"),
                          way=restart_via, prefix=prefix, exec_path=exec_path, workspace=workspace,
                          service_user=service_user, write_config=write_config, dry_run=dry_run)
    _run(typer_ctx, "install systemd", ACTION, lambda ctx: mod.install(ctx, opts))


@uninstall_app.command("systemd")
def uninstall_systemd(
    typer_ctx: typer.Context,
    user_scope: Annotated[bool | None, typer.Option("--user/--system", help=(
        "Which install to remove; default: --system as root, else --user."),
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be removed; remove nothing.")] = False,
    prefix: Annotated[str | None, typer.Option("--prefix", metavar="DIR", help=(
        "Remove the files an install --prefix DIR wrote; run no systemctl."))] = None,
) -> None:
    """Remove exactly the files `install systemd` wrote (its manifest says which)."""
    from ctoops.commands import install as mod
    from ctoops.policy.install_plan import InstallOptions

    opts = InstallOptions(scope=None if user_scope is None else ("user" if user_scope else "system"),
                          prefix=prefix, dry_run=dry_run)
    _run(typer_ctx, "uninstall systemd", ACTION, lambda ctx: mod.uninstall(ctx, opts))


def _exit_code_for(exc: BaseException, kind: str) -> int:
    from ctoops.errors import EXIT_UNKNOWN, CtoopsError, NotBuiltYet

    if kind == GATE:
        return 1  # fail closed: a gate that cannot judge says no
    if kind == HOOK:
        return 0  # a hook (ExecStartPost=) must never fail the unit it serves
    if isinstance(exc, NotBuiltYet):
        return EXIT_UNKNOWN
    if kind == CHECK:
        return EXIT_UNKNOWN  # ctoops itself could not judge
    if isinstance(exc, CtoopsError):
        return exc.exit_code
    return 1


def _report_error(exc: BaseException, name: str, kind: str, as_json: bool) -> int:
    import json

    from ctoops.errors import CtoopsError
    from ctoops.redaction import scrub

    code = _exit_code_for(exc, kind)
    text = str(exc) if isinstance(exc, CtoopsError) else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, CtoopsError):
        import traceback

        text += " (a bug in ctoops; the traceback is above)"
        sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
    sys.stderr.write(f"ctoops: {name}: {scrub(text)}\n")
    if as_json:
        status = "UNKNOWN" if kind == CHECK else "error"
        sys.stdout.write(json.dumps({"command": name, "status": status, "exit_code": code,
                                     "error": scrub(text)}) + "\n")
    return code


_VALUE_OPTIONS = ("--root", "--config")
_FLAG_OPTIONS = ("--json", "--dry-run", "--verbose")


def _app_for(args: list[str]) -> typer.Typer:
    """The root app with only the branch this run names. On every run Typer turns
    each registered command into a Click command (signatures, annotations): ~6 ms
    for the whole tree, paid by `gate` before every spawn and by every timer run.
    Anything else (no command, --help, completion, an unknown word or option)
    gets the whole app, so help and error messages stay exactly the same."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _VALUE_OPTIONS:
            i += 2
        elif arg in _FLAG_OPTIONS or arg.startswith(tuple(o + "=" for o in _VALUE_OPTIONS)):
            i += 1
        elif arg.startswith("-"):
            return app
        else:
            commands = [c for c in app.registered_commands if c.name == arg]
            groups = [g for g in app.registered_groups if g.name == arg]
            if not commands and not groups:
                return app
            slim = _root_typer()
            slim.registered_callback = app.registered_callback
            slim.registered_commands = commands
            slim.registered_groups = groups
            return slim
    return app


def main() -> None:
    """Console entry point (Typer's standalone mode: usage errors exit 2)."""
    _app_for(sys.argv[1:])()
