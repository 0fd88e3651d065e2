#!/usr/bin/env python3
"""Write (default) or check (--check) the reference units in systemd/timers/.

They are rendered from ctoops/templates/ by the same code as `ctoops install
systemd`, for three example hosts (polkit at the top, sudo/ and user/ below).
--check exits 1 naming each stale or missing file; tests run it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ctoops.config import load_config  # noqa: E402
from ctoops.policy.install_plan import TEMPLATES  # noqa: E402
from ctoops.policy.reference_units import reference_files  # noqa: E402
from ctoops.probes.install_host import load_templates  # noqa: E402

OUT = REPO / "systemd" / "timers"


def main(argv: list[str]) -> int:
    files = reference_files(load_config(None), load_templates(TEMPLATES))
    check = "--check" in argv
    stale = []
    for rel, text in sorted(files.items()):
        path = OUT / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    known = {OUT / rel for rel in files} | {OUT / "README.md"}
    extra = [str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file() and p not in known]
    if check and (stale or extra):
        for rel in stale:
            print(f"stale or missing: systemd/timers/{rel}")
        for rel in extra:
            print(f"not rendered by the templates: systemd/timers/{rel}")
        print("regenerate with: python3 scripts/render_reference_units.py")
        return 1
    if not check:
        print(f"{len(stale)} file(s) written under {OUT}" + (f"; unexpected: {extra}" if extra else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
