"""systemd's own judgement of the rendered units: `systemd-analyze verify` (every
unit, every way) and `systemd-analyze security --offline=yes` (exposure <= 3.0,
"OK", for every service in the user and polkit ways). Both work without systemd
running. The scores are printed (pytest -s) and listed in docs/systemd.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Ran
from tests.systemd.conftest import SCORE, analyze_env

EXEC = "/usr/bin/env"
GATEWAY_STUB = ("[Unit]\nDescription=stand-in for the OpenClaw gateway\n\n"
                "[Service]\nExecStart=/bin/sleep 1000\n")
WAYS = {  # way -> (install options, unit folder under the prefix, --user for systemd-analyze)
    "polkit": (("--system",), "etc/systemd/system", False),
    "sudo": (("--system", "--restart-via", "sudo"),
             "etc/systemd/system", False),
    "user": (("--user",), None, True),
}
REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "systemd" / "timers"


def verify(analyze: str, folder: Path, user: bool, runtime: Path) -> tuple[int, str]:
    """verify every unit in folder. Its exit code alone misses ignored lines (an
    unknown key, a bad Exec path are warnings), so any output counts as a failure."""
    (folder / "openclaw-gateway.service").write_text(GATEWAY_STUB)
    names = sorted(p.name for p in folder.iterdir() if p.suffix in (".service", ".timer"))
    argv = [analyze, *(["--user"] if user else []), "verify", *names]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120,
                          env=analyze_env(runtime), check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


def security(analyze: str, folder: Path, user: bool, runtime: Path) -> dict[str, float]:
    scores: dict[str, float] = {}
    for unit in sorted(folder.glob("ctoops-*.service")):
        argv = [analyze, *(["--user"] if user else []), "security", "--offline=yes",
                f"./{unit.name}"]
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120,
                              env=analyze_env(runtime), check=False)
        match = SCORE.search(done.stdout)
        assert match, (unit.name, done.stdout[-500:], done.stderr[-500:])
        scores[unit.name] = float(match.group(1))
    return scores


def rendered(install: Callable[..., Ran], ws: Path, tmp_path: Path, home: Path, way: str,
             *extra: str) -> tuple[Path, bool]:
    options, udir, user = WAYS[way]
    prefix = tmp_path / f"dest-{way}"
    ran = install("install", "systemd", *options, *extra, "--prefix", str(prefix),
                  "--exec", EXEC, root=ws)
    assert ran.returncode == 0, ran.stderr
    folder = prefix / (udir or str(home / ".config/systemd/user").lstrip("/"))
    return folder, user


@pytest.mark.parametrize("way", sorted(WAYS))
def test_r31_every_rendered_unit_passes_systemd_analyze_verify(
        way: str, install: Callable[..., Ran], ws: Path, tmp_path: Path, home: Path,
        systemd_analyze: str) -> None:
    folder, user = rendered(install, ws, tmp_path, home, way)
    rc, output = verify(systemd_analyze, folder, user, tmp_path / "run")
    assert rc == 0 and output == "", output
    assert (folder / "openclaw-gateway.service.d" / "ctoops.conf").is_file()  # verified with it


def test_verify_helper_catches_an_ignored_line(
        install: Callable[..., Ran], ws: Path, tmp_path: Path, home: Path,
        systemd_analyze: str) -> None:
    folder, user = rendered(install, ws, tmp_path, home, "polkit")
    unit = folder / "ctoops-check-sessions.service"
    unit.write_text(unit.read_text() + "ProtectSytem=strict\n")  # a typo systemd ignores
    _rc, output = verify(systemd_analyze, folder, user, tmp_path / "run")
    assert "ProtectSytem" in output


@pytest.mark.parametrize("way", ["polkit", "user"])
@pytest.mark.parametrize("variant", [(), ("gpu_off",), ("auto_zombie",)])
def test_exposure_is_at_most_3_for_every_service_in_the_user_and_polkit_ways(
        way: str, variant: tuple[str, ...], install: Callable[..., Ran], ws: Path,
        tmp_path: Path, home: Path, offline_security: str) -> None:
    import yaml

    cfg_path = ws / "config" / "ctoops.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    if "gpu_off" in variant:
        cfg["resources"] = {"gpu_enabled": False}
    if "auto_zombie" in variant:
        cfg["zombie"] = {"auto_restart_zombie": True}
    cfg_path.write_text(yaml.safe_dump(cfg))
    folder, user = rendered(install, ws, tmp_path, home, way)
    scores = security(offline_security, folder, user, tmp_path / "run")
    print(f"\nexposure ({way}{', ' + variant[0] if variant else ''}): "
          + ", ".join(f"{k} {v}" for k, v in scores.items()), file=sys.stderr)
    assert len(scores) == 5
    assert all(v <= 3.0 for v in scores.values()), scores


def test_sudo_way_exposure_is_reported(
        install: Callable[..., Ran], ws: Path, tmp_path: Path, home: Path,
        offline_security: str) -> None:
    folder, user = rendered(install, ws, tmp_path, home, "sudo")
    scores = security(offline_security, folder, user, tmp_path / "run")
    print("\nexposure (sudo): " + ", ".join(f"{k} {v}" for k, v in scores.items()),
          file=sys.stderr)
    # The sudo way gives up NoNewPrivileges and four capabilities on the restarting
    # service only; everything else scores as in the polkit way.
    assert scores["ctoops-check-sessions.service"] <= 3.0
    assert scores["ctoops-check-resources.service"] > scores["ctoops-check-sessions.service"]


def test_reference_copies_are_rendered_from_the_current_templates() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "render_reference_units.py"),
                           "--check"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("folder", ["", "sudo", "user"])
def test_reference_copies_pass_verify_and_security(
        folder: str, tmp_path: Path, systemd_analyze: str) -> None:
    copy = tmp_path / "ref"
    shutil.copytree(REFERENCE / folder if folder else REFERENCE, copy,
                    ignore=shutil.ignore_patterns("sudo", "user", "README.md", "*.rules"))
    for unit in copy.glob("*.service"):  # point ExecStart at a file that exists here
        text = unit.read_text()
        exe = next(line.split("=", 1)[1].split()[0] for line in text.splitlines()
                   if line.startswith("ExecStart="))
        unit.write_text(text.replace(f"ExecStart={exe} ", f"ExecStart={EXEC} "))
    user = folder == "user"
    rc, output = verify(systemd_analyze, copy, user, tmp_path / "run")
    assert rc == 0 and output == "", output
    help_text = subprocess.run([systemd_analyze, "security", "--help"], capture_output=True,
                               text=True, check=False).stdout
    if "--offline" in help_text and folder != "sudo":
        assert all(v <= 3.0 for v in security(systemd_analyze, copy, user, tmp_path / "run").values())
