"""The pure renderer and planner: what each way and job gets, and why (R29-R31)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ctoops.config import load_config
from ctoops.errors import UsageError
from ctoops.policy import install_plan as ip
from ctoops.policy import units
from ctoops.probes.install_host import load_templates

TEMPLATES = load_templates(ip.TEMPLATES)


def render(way: str = "polkit", scope: str = "system", **over: object) -> dict[str, str]:
    cfg = load_config(None)
    gateway = dataclasses.replace(cfg.gateway, state_dir="/srv/openclaw", log_dir="/tmp/openclaw")
    cfg = dataclasses.replace(cfg, gateway=gateway)
    if "auto_restart_zombie" in over:
        cfg = dataclasses.replace(cfg, zombie=dataclasses.replace(
            cfg.zombie, auto_restart_zombie=bool(over.pop("auto_restart_zombie"))))
    if "gpu" in over:
        cfg = dataclasses.replace(cfg, resources=dataclasses.replace(
            cfg.resources, gpu_enabled=bool(over.pop("gpu"))))
    args: dict[str, object] = dict(
        scope=scope, way=way, service_user="ctoops", service_home="/var/lib/ctoops",
        workspace="/var/lib/ctoops", config_file=None, cfg=cfg,
        exec_argv=("/usr/bin/ctoops",), code_paths=("/usr/bin/ctoops",),
        xdg_config_home="/home/u/.config", systemctl="/usr/bin/systemctl",
        timeout="/usr/bin/timeout", journal_group="systemd-journal")
    args.update(over)
    ri = ip.build_render_input(**args)  # type: ignore[arg-type]
    udir = ip.unit_dir(scope, "/home/u/.config")
    return {f.target.rsplit("/", 1)[-1]: f.text for f in ip.render_files(ri, udir, TEMPLATES)}


def directives(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_r30_one_service_and_one_timer_per_job_staggered_every_minute() -> None:
    files = render()
    seconds = []
    for job in units.JOBS:
        timer = files[f"ctoops-{job.name}.timer"]
        assert directives(timer, "Unit") == [f"ctoops-{job.name}.service"]
        assert directives(timer, "AccuracySec") == ["1s"]
        (cal,) = directives(timer, "OnCalendar")
        assert re.fullmatch(r"\*-\*-\* \*:\*:\d\d", cal)
        seconds.append(cal[-2:])
        service = files[f"ctoops-{job.name}.service"]
        assert directives(service, "Type") == ["oneshot"]
        assert directives(service, "ExecStart") == [
            "/usr/bin/ctoops --root /var/lib/ctoops " + " ".join(job.argv)]
        assert int(directives(service, "TimeoutStartSec")[0]) > 0
    assert len(set(seconds)) == 4 and "00" not in seconds


def test_r29_exit_1_and_2_are_findings_not_unit_failures() -> None:
    for job in units.JOBS:
        assert directives(render()[f"ctoops-{job.name}.service"], "SuccessExitStatus") == ["1 2"]


def test_polkit_way_keeps_no_new_privileges_and_no_capabilities_everywhere() -> None:
    files = render("polkit")
    for name, text in files.items():
        if name.endswith(".service"):
            assert directives(text, "NoNewPrivileges") == ["yes"], name
            assert directives(text, "CapabilityBoundingSet") == [""], name
    rule = files[units.POLKIT_NAME]
    assert 'action.lookup("unit") == "openclaw-gateway.service"' in rule
    assert 'action.lookup("verb") == "restart"' in rule
    assert 'subject.user == "ctoops"' in rule


def test_sudo_way_lifts_no_new_privileges_only_where_a_restart_can_happen() -> None:
    files = render("sudo")
    assert directives(files["ctoops-check-resources.service"], "NoNewPrivileges") == ["no"]
    for name in ("ctoops-check-sessions.service", "ctoops-retry-storm.service",
                 "ctoops-zombie-report.service", "ctoops-gateway-up.service"):
        assert directives(files[name], "NoNewPrivileges") == ["yes"], name
    assert units.POLKIT_NAME not in files
    auto = render("sudo", auto_restart_zombie=True)
    assert directives(auto["ctoops-zombie-report.service"], "NoNewPrivileges") == ["no"]


def test_sudo_way_sudoers_line_names_exactly_the_restart_command() -> None:
    ri = dataclasses.replace(_ri(), way="sudo")
    assert units.sudoers_line(ri) == \
        "ctoops ALL=(root) NOPASSWD: /usr/bin/systemctl restart openclaw-gateway"
    assert units.restart_command(ri) == ("sudo", "-n", "/usr/bin/systemctl", "restart",
                                         "openclaw-gateway")


def _ri() -> units.RenderInput:
    return ip.build_render_input("system", "polkit", "ctoops", "/var/lib/ctoops",
                                 "/var/lib/ctoops", None, load_config(None), ("/usr/bin/ctoops",),
                                 (), "/root/.config", "/usr/bin/systemctl", "/usr/bin/timeout",
                                 None)


def test_restart_command_per_way_matches_design() -> None:
    ri = _ri()
    assert units.restart_command(ri) == ("systemctl", "restart", "openclaw-gateway")
    user = dataclasses.replace(ri, scope="user", way="user")
    assert units.restart_command(user) == ("systemctl", "--user", "restart",
                                           "openclaw-gateway.service")
    assert units.sudoers_line(ri) is None


def test_r13_7_dropin_never_fails_the_gateway_and_is_bounded() -> None:
    system = render()["ctoops.conf"]
    (post,) = directives(system, "ExecStartPost")
    assert post == ("-+/usr/bin/timeout 10 /usr/bin/systemctl start --no-block "
                    "ctoops-gateway-up.service")
    user = render("user", "user")["ctoops.conf"]
    assert directives(user, "ExecStartPost") == [
        "-/usr/bin/timeout 10 /usr/bin/systemctl --user start --no-block ctoops-gateway-up.service"]
    notice = render()["ctoops-gateway-up.service"]
    assert directives(notice, "ExecStart") == [
        "/usr/bin/ctoops --root /var/lib/ctoops notify gateway-up"]
    assert directives(notice, "After") == ["openclaw-gateway.service"]


def test_gateway_log_readers_see_the_hosts_tmp_openclaw_through_a_read_only_bind() -> None:
    files = render()
    for name in ("ctoops-retry-storm.service", "ctoops-zombie-report.service"):
        assert directives(files[name], "PrivateTmp") == ["yes"]
        assert directives(files[name], "BindReadOnlyPaths") == ["-/tmp/openclaw"], name
    for name in ("ctoops-check-resources.service", "ctoops-check-sessions.service"):
        assert directives(files[name], "BindReadOnlyPaths") == [], name


def test_workspace_and_gateway_state_are_the_only_writable_paths() -> None:
    for name, text in render().items():
        if name.startswith("ctoops-") and name.endswith(".service") and "gateway-up" not in name:
            assert directives(text, "ProtectSystem") == ["strict"]
            assert directives(text, "ReadWritePaths") == ["/var/lib/ctoops", "-/srv/openclaw"]
    assert directives(render()["ctoops-gateway-up.service"], "ReadWritePaths") == ["/var/lib/ctoops"]


def test_r1_gpu_devices_allowed_only_to_check_resources_when_nvml_is_on() -> None:
    files = render()
    res = files["ctoops-check-resources.service"]
    assert directives(res, "DeviceAllow") == ["char-nvidia* rw"]
    assert directives(res, "DevicePolicy") == ["closed"]
    assert directives(res, "PrivateDevices") == []
    for name in ("ctoops-check-sessions.service", "ctoops-retry-storm.service",
                 "ctoops-zombie-report.service", "ctoops-gateway-up.service"):
        assert directives(files[name], "PrivateDevices") == ["yes"], name
    off = render(gpu=False)["ctoops-check-resources.service"]
    assert directives(off, "PrivateDevices") == ["yes"] and directives(off, "DeviceAllow") == []


def test_protect_home_hides_home_unless_something_needed_lives_there() -> None:
    assert directives(render()["ctoops-check-sessions.service"], "ProtectHome") == ["yes"]
    homed = render(workspace="/home/op/ws")["ctoops-check-sessions.service"]
    assert directives(homed, "ProtectHome") == ["read-only"]
    code = render(code_paths=("/root/.local/bin/ctoops",))["ctoops-check-sessions.service"]
    assert directives(code, "ProtectHome") == ["read-only"]
    user = render("user", "user")["ctoops-zombie-report.service"]  # the user manager's socket
    assert directives(user, "ProtectHome") == ["read-only"]


def test_user_units_have_no_user_line_and_read_secrets_from_xdg_config() -> None:
    files = render("user", "user", service_user="alice", service_home="/home/alice",
                   workspace="/home/alice/ws")
    res = files["ctoops-check-resources.service"]
    assert directives(res, "User") == []
    assert directives(res, "EnvironmentFile") == ["-/home/u/.config/ctoops/env"]
    assert directives(res, "DeviceAllow") == []
    assert directives(render()["ctoops-check-resources.service"], "EnvironmentFile") == [
        "-/etc/ctoops/env"]


def test_restarting_runs_get_the_time_a_restart_takes() -> None:
    files = render()
    res = int(directives(files["ctoops-check-resources.service"], "TimeoutStartSec")[0])
    sessions = int(directives(files["ctoops-check-sessions.service"], "TimeoutStartSec")[0])
    cfg = load_config(None)
    assert res >= sessions + cfg.gateway.restart_timeout_s + cfg.gateway.ready_timeout_s
    assert res <= 3600, "bounded: a hung run must not block the next ones for ever"


def test_percent_and_dollar_in_paths_are_escaped_not_expanded() -> None:
    files = render(workspace="/srv/ct%h$HOME")
    res = files["ctoops-check-sessions.service"]
    assert directives(res, "ExecStart") == ["/usr/bin/ctoops --root /srv/ct%%h$$HOME check sessions"]
    assert "/srv/ct%%h$HOME" in directives(res, "ReadWritePaths")


@pytest.mark.parametrize("bad", ["/srv/with space", "/srv/quote'd", "/srv/back\\slash",
                                 "/srv/new\nline", "relative/path"])
def test_bad_paths_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(UsageError, match="workspace"):
        render(workspace=bad)


@pytest.mark.parametrize("unit", ["gw; rm -rf /", 'gw"', "gw\\", "gw service"])
def test_bad_unit_or_user_names_are_refused(unit: str) -> None:
    """They end up inside the polkit rule's JavaScript strings and unit lines."""
    with pytest.raises(UsageError, match="service user"):
        render(service_user='x"; polkit.Result.YES; //')
    cfg = load_config(None)
    with pytest.raises(UsageError, match=r"gateway\.unit"):
        ip.build_render_input("system", "polkit", "ctoops", "/h", "/w", None,
                              dataclasses.replace(cfg, gateway=dataclasses.replace(
                                  cfg.gateway, unit=unit)),
                              ("/usr/bin/ctoops",), (), "/h/.config", "/usr/bin/systemctl",
                              "/usr/bin/timeout", None)


@pytest.mark.parametrize(("scope", "way", "message"), [
    ("user", "polkit", "for --system installs"),
    ("user", "sudo", "for --system installs"),
    ("system", "user", "needs --user"),
    ("system", "ssh", "expected user, polkit or sudo"),
])
def test_way_and_scope_must_fit(scope: str, way: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ip.choose_way(scope, way)


def test_default_way_follows_the_scope_and_the_scope_follows_the_uid() -> None:
    assert ip.choose_way("user", None) == "user"
    assert ip.choose_way("system", None) == "polkit"
    assert ip.choose_scope(None, 0) == "system"
    assert ip.choose_scope(None, 1000) == "user"


def test_home_relative_gateway_paths_resolve_for_the_service_user() -> None:
    assert ip.resolve_dir("~/.openclaw", "/var/lib/ctoops", "/ws") == "/var/lib/ctoops/.openclaw"
    assert ip.resolve_dir("logs/x", "/h", "/ws") == "/ws/logs/x"
    with pytest.raises(UsageError, match="absolute"):
        ip.resolve_dir("~other/.openclaw", "/h", "/ws")


def test_template_placeholders_must_all_be_known_and_used() -> None:
    assert units.render_template("a={{x}}\n{{gone}}\nb\n", {"x": "1", "gone": ""}) == "a=1\nb\n"
    with pytest.raises(KeyError, match="no value"):
        units.render_template("{{x}}", {})
    with pytest.raises(KeyError, match="never used"):
        units.render_template("plain", {"x": "1"})


def test_changed_installed_file_shows_a_unified_diff() -> None:
    planned = [ip.PlannedFile("/etc/systemd/system/a.service", "A=1\nB=2\n", "service")]
    (same,) = ip.compare(planned, {"/etc/systemd/system/a.service": ("file", b"A=1\nB=2\n")})
    assert same.status == "same" and same.diff == ""
    (changed,) = ip.compare(planned, {"/etc/systemd/system/a.service": ("file", b"A=1\nB=3\n")})
    assert changed.status == "changed" and "-B=3\n+B=2\n" in changed.diff
    (new,) = ip.compare(planned, {})
    assert new.status == "new" and new.diff.startswith("--- /dev/null")
