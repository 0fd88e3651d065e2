"""`ctoops install systemd` and `ctoops uninstall systemd` (R29-R31).

The four steps, as every command: sense the host (who runs this, is systemd up,
which ctoops executable, the config, what is installed now); decide the plan
(policy/install_plan.py renders the units through policy/units.py); act (show
the diff, write the files, run systemctl: actions/install_files.py); record
(the manifest `uninstall` reads, and the report).

Idempotent: a second run with nothing changed writes nothing and runs no
systemctl ("no changes"). --dry-run writes nothing and prints the rendered units
and the diff; --prefix DIR writes under DIR (DESTDIR-like) and runs no systemctl.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import posixpath
import sys
from pathlib import Path
from typing import Any

from ctoops.actions import install_files as fs
from ctoops.config import load_config
from ctoops.context import Context
from ctoops.errors import ActionFailed, ConfigError, UsageError
from ctoops.policy import install_plan as ip
from ctoops.policy.config_edit import set_gateway_keys
from ctoops.policy.units import DROPIN_NAME, POLKIT_NAME, SYSTEM, USER, WAY_SUDO
from ctoops.probes import install_host as host
from ctoops.report import Finding, Report
from ctoops.workspace import atomic_write, default_state_home, make_dirs

DEFAULT_SERVICE_USER = "ctoops"


def _show(ctx: Context, text: str) -> None:
    """The diff and the rendered units are for a person: stdout, never in --json."""
    if text and not ctx.json:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _reachable(prefix: str | None, scope: str, facts: host.HostFacts) -> str | None:
    """None when systemctl can run, else why it is skipped."""
    if prefix:
        return f"--prefix {prefix}: files only, no systemctl"
    if not facts.systemd_running:
        return "systemd is not running on this host (no /run/systemd/system)"
    if scope == USER and not facts.user_manager_running:
        return ("the user's systemd manager is not reachable (no $XDG_RUNTIME_DIR/systemd/"
                f"private); log in, or run `loginctl enable-linger {facts.invoking.name}`")
    return None


def install(ctx: Context, opts: ip.InstallOptions) -> Report:
    dry = ctx.dry_run or opts.dry_run
    opts = _absolute_prefix(opts)
    # --- sense ---------------------------------------------------------------------
    scope = ip.choose_scope(opts.scope, os.geteuid())
    way = ip.choose_way(scope, opts.way)
    if opts.write_config and opts.prefix:
        raise UsageError("--write-config edits the live workspace config; not with --prefix")
    if scope == USER and opts.service_user:
        raise UsageError("--service-user is for --system installs; user units run as you")
    facts = host.read_facts(opts.service_user or (DEFAULT_SERVICE_USER if scope == SYSTEM else None))
    service_user = (opts.service_user or DEFAULT_SERVICE_USER) if scope == SYSTEM else facts.invoking.name
    workspace = ip.choose_workspace(opts.workspace, ctx.root_option, scope, str(default_state_home()))
    config_file = str(Path(ctx.config_option).expanduser().resolve()) if ctx.config_option else None
    config_path = Path(config_file or posixpath.join(workspace, "config", "ctoops.yaml"))
    if config_file and not config_path.exists():
        raise ConfigError(f"{config_path}: config file does not exist")
    cfg = load_config(config_path)
    if opts.exec_path and not opts.exec_path.startswith("/"):
        raise UsageError(f"--exec {opts.exec_path!r} must be an absolute path")
    chosen = host.resolve_exec(opts.exec_path)
    notes: list[str] = list(chosen.notes)
    if chosen.shim:
        raise UsageError(f"{chosen.argv[0]} is a version manager's shim (pyenv/asdf/mise): under "
                         "systemd it has no shell environment to pick an interpreter from. Pass "
                         "the real file, e.g. --exec \"$(pyenv which ctoops)\"")
    if scope == SYSTEM and facts.service is None:
        problem = (f"the service user {service_user!r} does not exist; create it: "
                   f"useradd --system --home-dir {ip.SYSTEM_WORKSPACE} --shell /usr/sbin/nologin "
                   f"{service_user} (or pass --service-user NAME)")
        if not (opts.prefix or dry):
            raise ConfigError(problem)
        notes.append(problem)
    if not chosen.exists:
        problem = f"{chosen.argv[0]} is not an executable file"
        if not (opts.prefix or dry):
            raise UsageError(f"{problem}: pass --exec PATH")
        notes.append(problem)
    service_home = (facts.service.home if facts.service else f"/home/{service_user}") \
        if scope == SYSTEM else facts.invoking.home

    # --- decide --------------------------------------------------------------------
    ri = ip.build_render_input(scope, way, service_user, service_home, workspace, config_file,
                               cfg, chosen.argv, chosen.code_paths, facts.xdg_config_home,
                               facts.systemctl, facts.timeout, facts.journal_group)
    udir = ip.unit_dir(scope, facts.xdg_config_home)
    plan = ip.plan_install(ri, udir, ip.etc_dir(scope, facts.xdg_config_home),
                           host.load_templates(ip.TEMPLATES))
    installed = {f.target: host.read_installed(fs.on_disk(f.target, opts.prefix)) for f in plan.files}
    changes = ip.compare(plan.files, {t: (i.kind, i.data) for t, i in installed.items()})
    previous = _previous_manifest(plan.manifest_path, opts.prefix, notes)
    stale = ip.stale_files(previous, plan)
    changed = [c for c in changes if c.status != "same"]
    skipped = _reachable(opts.prefix, scope, facts)
    config_wanted = {k: v for k, v in plan.config_keys.items()
                     if getattr(cfg.gateway, k) != v}
    ws_missing = not Path(workspace).exists()

    # --- act -----------------------------------------------------------------------
    if dry:  # the whole text of each unit; then the diff only where one is installed
        _show(ctx, "".join(f"# --- {f.target} (mode {f.mode:o})\n{f.text}\n" for f in plan.files))
    _show(ctx, "".join(c.diff for c in changed if not dry or c.status == "changed"))
    removals: list[fs.Removal] = []
    results: list[Any] = []
    config_written = False
    if not dry and (changed or stale or previous is None):
        removals = _apply(plan, changed, stale, previous, opts.prefix)
    if not dry and not opts.prefix and ws_missing:
        owner = (facts.service.uid, facts.service.gid) if (
            scope == SYSTEM and facts.service and os.geteuid() == 0) else None
        try:
            fs.create_workspace(Path(workspace), owner)
        except OSError as exc:
            raise ActionFailed(f"cannot create the workspace {workspace}: "
                               f"{exc.strerror or exc}") from exc
        notes.append(f"created the workspace {workspace} with the default config")
    if opts.write_config and config_wanted:
        config_written, config_diff = _write_config(config_path, config_wanted, dry)
        _show(ctx, config_diff)
        if config_written:
            notes.append(f"set gateway.{' and gateway.'.join(config_wanted)} in {config_path}")
    if not dry and (changed or stale) and skipped is None:
        results = fs.run_steps(ip.install_commands(plan, facts.systemctl))
    elif skipped and not dry and (changed or stale):
        notes.append(f"systemctl skipped: {skipped}. When systemd runs: "
                     + " && ".join(" ".join(a) for a in ip.install_commands(plan, facts.systemctl)))

    # --- record --------------------------------------------------------------------
    notes += _host_notes(plan, facts, scope, workspace, ws_missing, dry or bool(opts.prefix))
    steps = _next_steps(plan, config_wanted, config_written)
    _show(ctx, steps)
    failed = next((r for r in results if not r.ok), None)
    findings = [Finding("systemd", c.status, "none", c.target) for c in changes]
    findings += [Finding("systemd", f"stale:{r.outcome}", "none", r.target) for r in removals]
    data = {"scope": scope, "way": way, "service_user": service_user, "workspace": workspace,
            "unit_dir": udir, "prefix": opts.prefix, "dry_run": dry,
            "exec": {"argv": list(chosen.argv), "how": chosen.how},
            "files": [{"path": c.target, "status": c.status} for c in changes],
            "stale": [{"path": r.target, "outcome": r.outcome} for r in removals] or stale,
            "diff": "".join(c.diff for c in changed),
            "rendered": {f.target: f.text for f in plan.files} if dry else {},
            "restart_command": list(plan.restart_command), "config_keys": plan.config_keys,
            "config_written": config_written, "sudoers_line": plan.sudoers_line,
            "manifest": plan.manifest_path, "timers": list(plan.timers),
            "systemctl": [{"argv": r.argv, "returncode": r.returncode, "output_tail": r.output_tail}
                          for r in results],
            "systemctl_skipped": skipped, "next_steps": steps}
    if failed is not None:
        raise ActionFailed(f"{' '.join(failed.argv)} failed ({failed.returncode}, {failed.error}): "
                           f"{failed.output_tail.strip()[-500:]}; the files are written "
                           f"(manifest {plan.manifest_path})")
    counts = {s: sum(1 for c in changes if c.status == s) for s in ("new", "changed", "same")}
    if dry:
        status, summary = "dry_run", (f"would write {counts['new']} new and {counts['changed']} "
                                      f"changed file(s) ({counts['same']} unchanged); nothing written")
    elif not changed and not stale:
        status, summary = "done", f"no changes ({len(changes)} files up to date)"
    else:
        status, summary = "done", (f"wrote {counts['new']} new and {counts['changed']} changed "
                                   f"file(s) under {opts.prefix or '/'}"
                                   + ("" if skipped else "; timers enabled"))
    return Report("install systemd", 0, status, summary, findings, data=data, notes=notes)


def _apply(plan: ip.InstallPlan, changed: list[ip.FileChange], stale: list[str],
           previous: ip.Manifest | None, prefix: str | None) -> list[fs.Removal]:
    """Write the changed files. The manifest goes first, naming every planned file
    and each folder created for them, so a run that dies half-way can still be
    uninstalled (a file never written is simply missing then)."""
    targets = [fs.on_disk(c.target, prefix) for c in changed]
    manifest = fs.on_disk(plan.manifest_path, prefix)
    problems = fs.unwritable([*targets, manifest])
    if problems:
        raise ActionFailed("; ".join(problems) + " (run as root for --system, or use --user "
                           "or --prefix DIR); nothing was written")
    created = list(previous.dirs) if previous else []
    removals: list[fs.Removal] = []
    try:
        for path in [*targets, manifest]:
            created += _host_paths(make_dirs(path.parent, 0o755), prefix)
        for target in stale:
            sha = previous.files[target] if previous else ""
            removals.append(fs.remove_written(fs.on_disk(target, prefix), target, sha))
        keep = [f.target for f in plan.files] + [plan.manifest_path]
        unused = [d for d in created if not any(k.startswith(d + "/") for k in keep)]
        fs.remove_empty_dirs([fs.on_disk(d, prefix) for d in unused])
        created = [d for d in created if d not in unused]
        atomic_write(manifest, ip.manifest_json(plan, created).encode("utf-8"), 0o644)
        planned = {f.target: f for f in plan.files}
        for change, path in zip(changed, targets, strict=True):
            f = planned[change.target]
            atomic_write(path, f.text.encode("utf-8"), f.mode)
    except OSError as exc:
        raise ActionFailed(f"writing the units failed: {exc}; the manifest "
                           f"{plan.manifest_path} lists what may have been written "
                           "(`ctoops uninstall systemd` removes it)") from exc
    return removals


def _absolute_prefix(opts: ip.InstallOptions) -> ip.InstallOptions:
    if not opts.prefix:
        return opts
    return dataclasses.replace(opts, prefix=os.path.abspath(opts.prefix))


def _host_paths(paths: list[Path], prefix: str | None) -> list[str]:
    """Created folders as host paths (the --prefix folder itself is not one)."""
    if not prefix:
        return [str(p) for p in paths]
    return ["/" + str(p.relative_to(prefix)) for p in paths if p != Path(prefix)]


def _previous_manifest(target: str, prefix: str | None, notes: list[str]) -> ip.Manifest | None:
    found = host.read_installed(fs.on_disk(target, prefix))
    if found.kind != "file" or found.data is None:
        return None
    try:
        return ip.parse_manifest(found.data, target)
    except ActionFailed as exc:
        notes.append(f"{exc}; it will be rewritten")
        return None


def _write_config(path: Path, keys: dict[str, Any], dry: bool) -> tuple[bool, str]:
    """Set gateway.systemd_scope and gateway.restart_command in the workspace config,
    comments kept; (written, the diff)."""
    if path.is_symlink():
        raise UsageError(f"{path} is a link to {os.readlink(path)}; ctoops will not edit the "
                         "file behind it: replace the link with a copy, or add the lines by hand")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    new = set_gateway_keys(text, keys, str(path))
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True),
                                        new.splitlines(keepends=True), str(path), str(path)))
    if dry:
        return False, diff
    if not path.exists():
        make_dirs(path.parent, 0o750)
        atomic_write(path, b"", 0o640)
    fs.write_config_text(path, new)
    return True, diff


def _host_notes(plan: ip.InstallPlan, facts: host.HostFacts, scope: str, workspace: str,
                ws_missing: bool, not_live: bool) -> list[str]:
    notes: list[str] = []
    if scope == USER and not facts.lingering:
        notes.append(f"user timers stop when {facts.invoking.name} logs out; keep them running "
                     f"with `loginctl enable-linger {facts.invoking.name}`")
    owner = host.path_owner(Path(workspace))
    if scope == SYSTEM and facts.service and owner is not None and owner != facts.service.uid:
        notes.append(f"the workspace {workspace} is not owned by {plan.service_user}; the timers "
                     f"cannot write it: chown -R {plan.service_user}: {workspace}")
    if ws_missing and not_live:
        notes.append(f"the workspace {workspace} does not exist (a live install creates it)")
    return notes


def _next_steps(plan: ip.InstallPlan, wanted: dict[str, Any], written: bool) -> str:
    lines: list[str] = []
    if wanted and not written:
        lines.append(f"Add to {plan.workspace}/config/ctoops.yaml (or rerun with --write-config):")
        lines.append(ip.config_snippet(wanted).rstrip("\n"))
    if plan.way == WAY_SUDO:
        lines.append("The sudo way needs this one sudoers line (visudo -f "
                     "/etc/sudoers.d/ctoops-gateway), and runs the restarting services with "
                     "NoNewPrivileges=no:")
        lines.append(plan.sudoers_line or "")
    lines.append(f"Secrets (CTOOPS_DISCORD_WEBHOOK=...) go in {posixpath.join(plan.etc_dir, 'env')}"
                 " (mode 0600).")
    return "\n".join(lines) + "\n"


def uninstall(ctx: Context, opts: ip.InstallOptions) -> Report:
    dry = ctx.dry_run or opts.dry_run
    opts = _absolute_prefix(opts)
    # --- sense ---------------------------------------------------------------------
    scope = ip.choose_scope(opts.scope, os.geteuid())
    facts = host.read_facts(None)
    edir = ip.etc_dir(scope, facts.xdg_config_home)
    target = posixpath.join(edir, ip.MANIFEST_NAME)
    found = host.read_installed(fs.on_disk(target, opts.prefix))
    if found.kind == "missing":
        return Report("uninstall systemd", 0, "done",
                      f"nothing to uninstall: no manifest at {fs.on_disk(target, opts.prefix)}")
    if found.kind != "file" or found.data is None:
        raise ActionFailed(f"{target} is not a regular file; remove it by hand")
    manifest = ip.parse_manifest(found.data, target)
    # --- decide --------------------------------------------------------------------
    udir = ip.unit_dir(scope, facts.xdg_config_home)
    theirs = [p for p in manifest.files if not _file_is_ours(p, udir)]
    theirs += [d for d in manifest.dirs if not _dir_is_ours(d, list(manifest.files), target)]
    for path in theirs[:1]:
        raise ActionFailed(f"the manifest {target} names {path}, which ctoops never writes; "
                               "refusing to remove anything: check the manifest")
    before, after = ip.uninstall_commands(manifest, facts.systemctl)
    skipped = _reachable(opts.prefix, scope, facts)
    # --- act -----------------------------------------------------------------------
    if dry:
        findings = [Finding("systemd", "would_remove", "none", t) for t in sorted(manifest.files)]
        return Report("uninstall systemd", 0, "dry_run",
                      f"would remove {len(manifest.files)} file(s); nothing removed", findings,
                      data={"files": sorted(manifest.files), "manifest": target,
                            "systemctl": [before, after] if skipped is None else [],
                            "systemctl_skipped": skipped})
    notes: list[str] = []
    results = fs.run_steps(before) if skipped is None else []
    if results and not results[-1].ok:
        notes.append(f"{' '.join(results[-1].argv)} failed: {results[-1].output_tail.strip()[-300:]}"
                     "; removing the files anyway")
    removals = [fs.remove_written(fs.on_disk(t, opts.prefix), t, sha)
                for t, sha in sorted(manifest.files.items())]
    kept = [r for r in removals if r.outcome in ("modified", "not_a_file")]
    if kept:
        notes.append("kept (edited since install, or not a regular file): "
                     + ", ".join(r.target for r in kept) + "; remove them by hand")
    else:
        fs.on_disk(target, opts.prefix).unlink()
    fs.remove_empty_dirs([fs.on_disk(d, opts.prefix) for d in manifest.dirs])
    if skipped is None:
        results += fs.run_steps(after)
    else:
        notes.append(f"systemctl skipped: {skipped}")
    if manifest.way == WAY_SUDO:
        notes.append("remove the ctoops sudoers line (/etc/sudoers.d/ctoops-gateway) by hand")
    notes.append("gateway.restart_command in the workspace config is left as it is")
    # --- record --------------------------------------------------------------------
    findings = [Finding("systemd", r.outcome, "none", r.target) for r in removals]
    removed = sum(1 for r in removals if r.outcome == "removed")
    return Report("uninstall systemd", 0, "done", f"removed {removed} file(s)"
                  + (f", kept {len(kept)} edited" if kept else ""), findings,
                  data={"removed": [r.target for r in removals if r.outcome == "removed"],
                        "kept": [r.target for r in kept], "manifest": target,
                        "systemctl": [{"argv": r.argv, "returncode": r.returncode} for r in results],
                        "systemctl_skipped": skipped}, notes=notes)


def _file_is_ours(path: str, udir: str) -> bool:
    """Only what an install can have written: ctoops-*.service/.timer in the unit
    folder, the gateway drop-in, the polkit rule."""
    if posixpath.normpath(path) != path:
        return False
    parent, name = posixpath.split(path)
    if parent == ip.POLKIT_DIR:
        return name == POLKIT_NAME
    if parent == udir:
        return name.startswith("ctoops-") and name.endswith((".service", ".timer"))
    return posixpath.dirname(parent) == udir and parent.endswith(".service.d") \
        and name == DROPIN_NAME


def _dir_is_ours(path: str, files: list[str], manifest: str) -> bool:
    """A folder the install created holds one of its files (or the manifest)."""
    return posixpath.normpath(path) == path and path != "/" and any(
        f.startswith(path.rstrip("/") + "/") for f in [*files, manifest])
