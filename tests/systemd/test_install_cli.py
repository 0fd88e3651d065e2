"""`ctoops install|uninstall systemd` through the real CLI, into --prefix folders
(and one live --user install into a private HOME). R29-R31."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import Ran

EXEC = "/usr/bin/env"  # any existing executable: the units are rendered, not run
UNITS = "etc/systemd/system"
JOB_NAMES = ("check-resources", "check-sessions", "retry-storm", "zombie-report")


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under root with its content hash or kind."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else f"{path.read_bytes()!r}:{oct(path.stat().st_mode)}"
    return out


def expected_units(extra: tuple[str, ...] = ()) -> set[str]:
    names = {f"ctoops-{j}.{k}" for j in JOB_NAMES for k in ("service", "timer")}
    return names | {"ctoops-gateway-up.service", "openclaw-gateway.service.d/ctoops.conf", *extra}


def unit_files(prefix: Path, udir: str = UNITS) -> set[str]:
    base = prefix / udir
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}


def test_r31_polkit_install_renders_every_unit_into_the_prefix(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    ran = install("--json", "install", "systemd", "--system", "--prefix", str(prefix),
                  "--exec", EXEC, "--service-user", "root", root=ws)
    assert ran.returncode == 0, ran.stderr
    doc = ran.json()
    assert doc["status"] == "done" and doc["way"] == "polkit" and doc["scope"] == "system"
    assert unit_files(prefix) == expected_units()
    rule = prefix / "etc/polkit-1/rules.d/50-ctoops-gateway-restart.rules"
    assert stat.S_IMODE(rule.stat().st_mode) == 0o644
    for f in (prefix / UNITS).rglob("*.service"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    assert doc["restart_command"] == ["systemctl", "restart", "openclaw-gateway"]
    assert "systemctl" in (doc["systemctl_skipped"] or "") and doc["systemctl"] == []
    manifest = json.loads((prefix / "etc/ctoops/install-manifest.json").read_text())
    assert set(manifest["files"]) == {"/" + UNITS + "/" + u for u in expected_units()} | {
        "/etc/polkit-1/rules.d/50-ctoops-gateway-restart.rules"}
    assert not (ws / "config" / "ctoops.yaml").read_text().count("restart_command"), \
        "without --write-config the workspace config is not touched"


def test_sudo_install_prints_the_exact_sudoers_line(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    ran = install("install", "systemd", "--system", "--restart-via", "sudo", "--prefix",
                  str(prefix), "--exec", EXEC, "--service-user", "root", root=ws)
    assert ran.returncode == 0, ran.stderr
    systemctl = next(line for line in ran.stdout.splitlines() if line.startswith("root ALL="))
    assert systemctl.startswith("root ALL=(root) NOPASSWD: /") and \
        systemctl.endswith("/systemctl restart openclaw-gateway")
    assert "NoNewPrivileges=no" in ran.stdout
    assert unit_files(prefix) == expected_units()
    assert not (prefix / "etc/polkit-1").exists()
    res = (prefix / UNITS / "ctoops-check-resources.service").read_text()
    assert "NoNewPrivileges=no" in res


def test_user_install_goes_to_the_users_config_folder(
        install: Callable[..., Ran], ws: Path, tmp_path: Path, home: Path) -> None:
    prefix = tmp_path / "dest"
    ran = install("--json", "install", "systemd", "--user", "--prefix", str(prefix),
                  "--exec", EXEC, root=ws)
    assert ran.returncode == 0, ran.stderr
    udir = str(home / ".config" / "systemd" / "user").lstrip("/")
    assert unit_files(prefix, udir) == expected_units()
    assert ran.json()["restart_command"] == ["systemctl", "--user", "restart",
                                             "openclaw-gateway.service"]
    assert (prefix / str(home / ".config/ctoops/install-manifest.json").lstrip("/")).is_file()


def test_install_is_idempotent_second_run_says_no_changes(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    args = ("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
            "--service-user", "root")
    assert install(*args, root=ws).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in prefix.rglob("*")}
    again = install(*args, root=ws)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    assert "--- " not in again.stdout, "no diff when nothing changed"
    assert {p: p.stat().st_mtime_ns for p in prefix.rglob("*")} == before


def test_a_changed_setting_shows_a_diff_and_rewrites_only_that(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    args = ("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
            "--service-user", "root")
    assert install(*args, root=ws).returncode == 0
    cfg = ws / "config" / "ctoops.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["zombie"] = {"auto_restart_zombie": True}
    cfg.write_text(yaml.safe_dump(data))
    ran = install("--json", *args, root=ws)
    doc = ran.json()
    changed = [f["path"] for f in doc["files"] if f["status"] == "changed"]
    assert changed == ["/etc/systemd/system/ctoops-zombie-report.service"]
    assert "+MemoryDenyWriteExecute=no" in doc["diff"]


def test_dry_run_writes_nothing_and_prints_units_and_diff(
        install: Callable[..., Ran], tmp_path: Path, home: Path) -> None:
    prefix = tmp_path / "dest"
    fresh_ws = tmp_path / "not-yet"
    ran = install("--dry-run", "install", "systemd", "--system", "--prefix", str(prefix),
                  "--exec", EXEC, "--workspace", str(fresh_ws), "--write-config")
    assert ran.returncode == 2, "--write-config is refused with --prefix"
    ran = install("--dry-run", "install", "systemd", "--system", "--prefix", str(prefix),
                  "--exec", EXEC, "--workspace", str(fresh_ws))
    assert ran.returncode == 0, ran.stderr
    assert "[Service]" in ran.stdout and "OnCalendar=*-*-* *:*:05" in ran.stdout
    assert "dry_run" in ran.stdout
    assert not prefix.exists() and not fresh_ws.exists()
    local = install("install", "systemd", "--dry-run", "--user", "--exec", EXEC,
                    "--workspace", str(fresh_ws))
    assert local.returncode == 0, local.stderr
    assert not fresh_ws.exists() and not (home / ".config" / "systemd").exists()


def test_dry_run_on_an_installed_tree_shows_the_diff(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    args = ("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
            "--service-user", "root")
    assert install(*args, root=ws).returncode == 0
    timer = prefix / UNITS / "ctoops-retry-storm.timer"
    timer.write_text(timer.read_text().replace(":35", ":36"))
    snapshot = tree(prefix)
    ran = install("--dry-run", *args, root=ws)
    assert ran.returncode == 0
    assert "-OnCalendar=*-*-* *:*:36\n+OnCalendar=*-*-* *:*:35" in ran.stdout
    assert tree(prefix) == snapshot


def test_uninstall_removes_exactly_what_install_wrote(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    (prefix / UNITS / "timers.target.wants").mkdir(parents=True)
    (prefix / UNITS / "someone-else.service").write_text("[Service]\nExecStart=/bin/true\n")
    (prefix / "etc/ctoops").mkdir(parents=True)
    (prefix / "etc/ctoops/env").write_text("CTOOPS_DISCORD_WEBHOOK=x\n")
    before = tree(prefix)
    assert install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                   "--service-user", "root", root=ws).returncode == 0
    assert tree(prefix) != before
    ran = install("--json", "uninstall", "systemd", "--system", "--prefix", str(prefix))
    assert ran.returncode == 0, ran.stderr
    assert len(ran.json()["removed"]) == 11
    assert tree(prefix) == before
    again = install("uninstall", "systemd", "--system", "--prefix", str(prefix))
    assert again.returncode == 0 and "nothing to uninstall" in again.stdout


def test_uninstall_keeps_a_file_edited_since_install(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    assert install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                   "--service-user", "root", root=ws).returncode == 0
    edited = prefix / UNITS / "ctoops-check-sessions.service"
    edited.write_text(edited.read_text() + "# local change\n")
    ran = install("--json", "uninstall", "systemd", "--system", "--prefix", str(prefix))
    assert ran.returncode == 0
    assert ran.json()["kept"] == ["/etc/systemd/system/ctoops-check-sessions.service"]
    assert unit_files(prefix) == {"ctoops-check-sessions.service"}
    assert "remove them by hand" in ran.stderr


def test_uninstall_dry_run_removes_nothing(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    assert install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                   "--service-user", "root", root=ws).returncode == 0
    snapshot = tree(prefix)
    ran = install("uninstall", "systemd", "--system", "--dry-run", "--prefix", str(prefix))
    assert ran.returncode == 0 and "would remove 11" in ran.stdout
    assert tree(prefix) == snapshot


def test_a_tampered_manifest_removes_nothing(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    assert install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                   "--service-user", "root", root=ws).returncode == 0
    (prefix / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    manifest = prefix / "etc/ctoops/install-manifest.json"
    doc = json.loads(manifest.read_text())
    doc["files"]["/etc/passwd"] = "0" * 64
    manifest.write_text(json.dumps(doc))
    snapshot = tree(prefix)
    ran = install("uninstall", "systemd", "--system", "--prefix", str(prefix))
    assert ran.returncode == 1 and "/etc/passwd" in ran.stderr
    assert tree(prefix) == snapshot
    manifest.write_text("{not json")
    ran = install("uninstall", "systemd", "--system", "--prefix", str(prefix))
    assert ran.returncode == 1 and "unreadable" in ran.stderr


def test_switching_from_polkit_to_sudo_removes_the_polkit_rule(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    base = ("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
            "--service-user", "root")
    assert install(*base, root=ws).returncode == 0
    rule = prefix / "etc/polkit-1/rules.d/50-ctoops-gateway-restart.rules"
    assert rule.is_file()
    ran = install(*base, "--restart-via", "sudo", root=ws)
    assert ran.returncode == 0, ran.stderr
    assert not rule.exists()
    assert install("uninstall", "systemd", "--system", "--prefix", str(prefix)).returncode == 0
    assert not (prefix / "etc").exists()


def test_bad_options_fail_clearly_and_write_nothing(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    spaced = tmp_path / "with space"
    spaced.mkdir()
    shim = tmp_path / ".pyenv" / "shims" / "ctoops"
    shim.parent.mkdir(parents=True)
    shim.write_text('#!/usr/bin/env bash\nexec "/x/pyenv" exec "$program" "$@"\n')
    shim.chmod(0o755)
    cases = [
        (("--system", "--restart-via", "user"), "needs --user"),
        (("--user", "--restart-via", "polkit"), "for --system installs"),
        (("--restart-via", "ssh", "--system"), "expected user, polkit or sudo"),
        (("--system", "--workspace", str(spaced)), "contains a blank"),
        (("--system", "--workspace", "relative/ws"), "absolute"),
        (("--system", "--exec", "bin/ctoops"), "absolute"),
        (("--system", "--exec", str(shim)), "shim"),
        (("--user", "--service-user", "bob"), "--service-user is for --system"),
    ]
    for extra, message in cases:
        args = ["install", "systemd", "--prefix", str(prefix), "--service-user", "root", *extra]
        if "--exec" not in extra:
            args += ["--exec", EXEC]
        if extra[0] == "--user":
            args.remove("--service-user")
            args.remove("root")
        ran = install(*args, root=ws)
        assert ran.returncode == 2, (extra, ran.returncode, ran.stderr)
        assert message in ran.stderr, (extra, ran.stderr)
        assert "Traceback" not in ran.stderr
    assert not prefix.exists()


def test_a_masked_unit_in_the_way_stops_the_install_before_any_write(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    (prefix / UNITS).mkdir(parents=True)
    (prefix / UNITS / "ctoops-retry-storm.service").symlink_to("/dev/null")
    snapshot = tree(prefix)
    ran = install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                  "--service-user", "root", root=ws)
    assert ran.returncode == 1 and "masked" in ran.stderr
    assert tree(prefix) == snapshot


def test_a_file_where_a_folder_belongs_stops_the_install_before_any_write(
        install: Callable[..., Ran], ws: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "dest"
    (prefix / UNITS).mkdir(parents=True)
    blocker = prefix / UNITS / "openclaw-gateway.service.d"
    blocker.write_text("a file where the drop-in folder should be\n")
    before = tree(prefix)
    ran = install("install", "systemd", "--system", "--prefix", str(prefix), "--exec", EXEC,
                  "--service-user", "root", root=ws)
    assert ran.returncode == 1, ran.stderr
    assert "is a file" in ran.stderr and "Traceback" not in ran.stderr
    assert tree(prefix) == before


def test_live_user_install_without_systemd_writes_files_and_says_systemctl_was_skipped(
        install: Callable[..., Ran], tmp_path: Path, home: Path) -> None:
    """No --prefix: the real paths of a --user install (inside this test's HOME).
    systemd is unreachable here (no user manager socket): files written, exit 0."""
    workspace = tmp_path / "live-ws"
    ran = install("install", "systemd", "--user", "--exec", EXEC, "--workspace", str(workspace),
                  "--write-config")
    assert ran.returncode == 0, ran.stderr
    assert "systemctl skipped" in ran.stderr
    assert unit_files(Path("/"), str(home / ".config/systemd/user").lstrip("/")) == expected_units()
    config = workspace / "config" / "ctoops.yaml"
    cfg = yaml.safe_load(config.read_text())
    assert cfg["gateway"]["restart_command"] == ["systemctl", "--user", "restart",
                                                 "openclaw-gateway.service"]
    assert cfg["gateway"]["systemd_scope"] == "user"
    assert "# The ONLY place a gateway restart appears (R15)." in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) & 0o007 == 0
    check = install("--root", str(workspace), "config", "validate")
    assert check.returncode == 0, check.stderr
    again = install("install", "systemd", "--user", "--exec", EXEC, "--workspace",
                    str(workspace), "--write-config")
    assert again.returncode == 0 and "no changes" in again.stdout
    assert "+  restart_command" not in again.stdout
    gone = install("uninstall", "systemd", "--user")
    assert gone.returncode == 0, gone.stderr
    assert not (home / ".config" / "systemd").exists()
    assert config.is_file(), "uninstall never removes the workspace"


def test_write_config_refuses_a_config_that_is_a_link(
        install: Callable[..., Ran], tmp_path: Path) -> None:
    workspace = tmp_path / "linked"
    (workspace / "config").mkdir(parents=True)
    target = tmp_path / "shared.yaml"
    target.write_text("gateway:\n  unit: openclaw-gateway\n")
    os.symlink(target, workspace / "config" / "ctoops.yaml")
    ran = install("--dry-run", "install", "systemd", "--user", "--exec", EXEC,
                  "--workspace", str(workspace), "--write-config")
    assert ran.returncode == 2 and "is a link" in ran.stderr
    assert target.read_text() == "gateway:\n  unit: openclaw-gateway\n"
