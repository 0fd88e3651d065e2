"""The reference renders kept in the repository under systemd/timers/ (R31). Pure.

Three fixed example hosts, one per restart way, so a reader (and CI's
`systemd-analyze verify`) sees exactly what the installer writes without
running it. scripts/render_reference_units.py writes or checks them; a test
fails when a template changed and the copies were not regenerated.
"""

from __future__ import annotations

import dataclasses
import posixpath

from ctoops.config import Config
from ctoops.policy import install_plan as ip
from ctoops.policy.units import SYSTEM, USER, WAY_POLKIT, WAY_SUDO, WAY_USER

# (folder under systemd/timers/, scope, way, user, home, exec, workspace, gateway state)
HOSTS = (
    ("", SYSTEM, WAY_POLKIT, "ctoops", "/var/lib/ctoops", "/usr/local/bin/ctoops",
     "/var/lib/ctoops", "/var/lib/openclaw/.openclaw"),
    ("sudo", SYSTEM, WAY_SUDO, "ctoops", "/var/lib/ctoops", "/usr/local/bin/ctoops",
     "/var/lib/ctoops", "/var/lib/openclaw/.openclaw"),
    ("user", USER, WAY_USER, "alice", "/home/alice", "/home/alice/.local/bin/ctoops",
     "/home/alice/.local/state/ctoops", "~/.openclaw"),
)


def reference_files(cfg: Config, templates: dict[str, str]) -> dict[str, str]:
    """Relative path under systemd/timers/ -> text."""
    out: dict[str, str] = {}
    for folder, scope, way, user, home, exe, workspace, state in HOSTS:
        host_cfg = dataclasses.replace(cfg, gateway=dataclasses.replace(cfg.gateway, state_dir=state))
        xdg = posixpath.join(home, ".config")
        ri = ip.build_render_input(scope, way, user, home, workspace, None, host_cfg, (exe,),
                                   (exe,), xdg, "/usr/bin/systemctl", "/usr/bin/timeout",
                                   "systemd-journal")
        udir = ip.unit_dir(scope, xdg)
        for f in ip.render_files(ri, udir, templates):
            rel = posixpath.basename(f.target) if f.role == "polkit" else \
                posixpath.relpath(f.target, udir)
            out[posixpath.join(folder, rel) if folder else rel] = f.text
    return out
