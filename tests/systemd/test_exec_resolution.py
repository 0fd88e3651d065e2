"""Which ctoops the units run: the real one, never a version manager's shim."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ctoops.probes.install_host import is_shim, resolve_exec

PYENV_SHIM = """#!/usr/bin/env bash
set -e
[ -n "$PYENV_DEBUG" ] && set -x

program="${0##*/}"

export PYENV_ROOT="/home/u/.pyenv"
exec "/home/u/.pyenv/libexec/pyenv" exec "$program" "$@"
"""
ASDF_SHIM = """#!/usr/bin/env bash
# asdf-plugin: python 3.12.1
exec /home/u/.asdf/bin/asdf exec "ctoops" "$@"
"""
CONSOLE_SCRIPT = f"""#!{sys.executable}
import sys
from ctoops.cli import main
sys.exit(main())
"""


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_pyenv_and_asdf_shims_are_recognised(tmp_path: Path) -> None:
    assert is_shim(str(_script(tmp_path / "a" / "ctoops", PYENV_SHIM)))
    assert is_shim(str(_script(tmp_path / "b" / "ctoops", ASDF_SHIM)))
    assert is_shim(str(_script(tmp_path / "shims" / "ctoops", "#!/bin/sh\nexec mise x\n")))
    assert not is_shim(str(_script(tmp_path / "bin" / "ctoops", CONSOLE_SCRIPT)))
    assert not is_shim(sys.executable)


def test_a_real_console_script_from_argv0_is_used_as_is(tmp_path: Path) -> None:
    script = _script(tmp_path / "venv" / "bin" / "ctoops", CONSOLE_SCRIPT)
    chosen = resolve_exec(None, argv0=str(script), executable=sys.executable)
    assert chosen.argv == (str(script),)
    assert chosen.how == "console script" and chosen.exists and not chosen.shim


def test_a_bare_name_found_on_path_as_a_shim_falls_back_to_the_interpreter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shims = tmp_path / ".pyenv" / "shims"
    _script(shims / "ctoops", PYENV_SHIM)
    monkeypatch.setenv("PATH", str(shims) + os.pathsep + os.environ["PATH"])
    chosen = resolve_exec(None, argv0="ctoops", executable=sys.executable)
    assert chosen.argv == (sys.executable, "-m", "ctoops")
    assert any("shim" in note for note in chosen.notes)
    assert not chosen.shim


def test_python_dash_m_runs_the_same_interpreter_with_dash_m(tmp_path: Path) -> None:
    chosen = resolve_exec(None, argv0=str(Path("/x/ctoops/__main__.py")), executable=sys.executable)
    assert chosen.argv == (sys.executable, "-m", "ctoops")
    assert chosen.importable is not None  # checked with a real child interpreter


def test_an_interpreter_that_cannot_import_ctoops_is_reported(tmp_path: Path) -> None:
    """A source checkout run through PYTHONPATH: under systemd (no PYTHONPATH) the
    interpreter would not find ctoops; the installer must say so."""
    no_site = _script(tmp_path / "nosite" / "python", f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    chosen = resolve_exec(None, argv0="-m", executable=str(no_site))
    assert chosen.argv == (str(no_site), "-m", "ctoops")
    assert chosen.importable is False
    assert any("cannot import ctoops" in n for n in chosen.notes)
    repo = Path(__file__).resolve().parents[2]
    with_path = _script(tmp_path / "withpath" / "python",
                        f'#!/bin/sh\nPYTHONPATH={repo} exec {sys.executable} "$@"\n')
    assert resolve_exec(None, argv0="-m", executable=str(with_path)).importable is True


def test_explicit_exec_is_taken_as_given_and_a_shim_is_flagged(tmp_path: Path) -> None:
    shim = _script(tmp_path / "shims" / "ctoops", PYENV_SHIM)
    chosen = resolve_exec(str(shim))
    assert chosen.argv == (str(shim),) and chosen.shim and chosen.how == "--exec"
    real = resolve_exec("/usr/bin/env")
    assert real.exists and not real.shim
    assert not resolve_exec(str(tmp_path / "missing")).exists
