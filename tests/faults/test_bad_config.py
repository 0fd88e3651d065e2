"""Bad configuration files (issue 12): truncated, wrong-typed, huge, non-UTF-8,
deeply nested, non-finite. Through the CLI each is exit 3 for a check and 78 for
an action, with one clear stderr line and no traceback, and nothing is done:
no restart, no file in the workspace changed. In process (hypothesis), loading
any bytes either gives a Config or raises ConfigError, nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctoops.config import Config, default_config_text, load_config
from ctoops.errors import ConfigError
from tests.conftest import run_ctoops
from tests.faults.conftest import ForkServer, tree_bytes

DEFAULT = default_config_text()


def _load(tmp_path: Path, raw: bytes) -> Config | ConfigError:
    path = tmp_path / "ctoops.yaml"
    path.write_bytes(raw)
    try:
        return load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc), str(exc)  # one line for the journal
        return exc


def _leaves(node: object, where: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{where}.{k}" if where
                                                                    else str(k))]
    return [(where, node)]


def _set(tree: dict, dotted: str, value: object) -> dict:
    out: dict = {}
    node = out
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return out


LEAVES = _leaves(yaml.safe_load(DEFAULT))


def _wrong_values(good: object) -> list[object]:
    """Values of a type the key does not take."""
    if isinstance(good, bool):
        return ["yes please", 1, [True]]
    if isinstance(good, (int, float)):
        return ["ten", [1], {"a": 1}, True]
    if isinstance(good, list):
        return ["a b", 3, {"a": "b"}]
    return [[1, 2], {"a": "b"}, 3.5]


@pytest.mark.parametrize("dotted,good", LEAVES, ids=[k for k, _ in LEAVES])
def test_every_key_with_a_wrong_type_is_a_config_error_naming_it(tmp_path: Path, dotted: str,
                                                                 good: object) -> None:
    for bad in _wrong_values(good):
        got = _load(tmp_path, yaml.safe_dump(_set({}, dotted, bad)).encode())
        assert isinstance(got, ConfigError), (dotted, bad)
        assert dotted in str(got) or dotted.rsplit(".", 1)[0] in str(got), str(got)


_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300)
            | st.floats() | st.text(max_size=20) | st.sampled_from(["${HOME}", "${UNSET_X}"]))
_SECTIONS = st.sampled_from([k.split(".")[0] for k, _ in LEAVES] + ["nope"])
_KEYS = st.sampled_from([k.rsplit(".", 1)[-1] for k, _ in LEAVES] + ["x"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.integers(min_value=0, max_value=len(DEFAULT)).map(lambda n: DEFAULT[:n].encode()),
    st.binary(max_size=400),
    st.dictionaries(_SECTIONS, st.dictionaries(_KEYS, st.recursive(
        _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner,
                                                                             max_size=3),
        max_leaves=8), max_size=4), max_size=3).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
))
def test_any_config_bytes_load_or_raise_config_error(tmp_path: Path, raw: bytes) -> None:
    got = _load(tmp_path, raw)
    assert isinstance(got, (Config, ConfigError))


# --- through the command line -------------------------------------------------------
def _deep(levels: int) -> str:
    return "gateway:\n  restart_command: " + "[" * levels + "x" + "]" * levels + "\n"


BAD_FILES: dict[str, bytes] = {
    "truncated": DEFAULT[: DEFAULT.index("guardrails:") + 40].encode() + b"\n  restarts_per",
    "truncated_flow": b"gateway: {unit: openclaw-gateway, restart_command: [sudo, systemctl",
    "wrong_type": b"guardrails:\n  restarts_per_window: three\n",
    "section_is_a_list": b"gateway:\n  - unit\n",
    "top_is_a_list": b"- gateway\n- guardrails\n",
    "huge_file": b"# padding\n" * 200_000,
    "huge_integer": b"guardrails:\n  restarts_per_window: " + b"9" * 5000 + b"\n",
    "huge_float": b"gateway:\n  restart_timeout_s: " + b"9" * 400 + b"\n",
    "nan_window": b"guardrails:\n  restart_window_s: .nan\n",
    "inf_timeout": b"gateway:\n  ready_timeout_s: .inf\n",
    "non_utf8": b"gateway:\n  unit: openclaw-gateway-caf\xe9\n",
    "utf16": "gateway:\n  unit: x\n".encode("utf-16"),
    "nested_900": _deep(900).encode(),
    "nested_5000": _deep(5000).encode(),
    "python_tag": b"gateway: !!python/object/apply:os.system [touch /tmp/ctoops-pwned]\n",
}
COMMANDS = [(["check", "sessions"], 3), (["retry-storm"], 3), (["check", "resources"], 3),
            (["safe-restart", "--reason", "bad config drill"], 78),
            (["--dry-run", "safe-restart", "--reason", "bad config drill"], 78),
            (["config", "validate"], 78)]


@pytest.fixture(scope="module")
def marked_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("badcfg") / "ws"
    (root / "config").mkdir(parents=True)
    marker = root.parent / "restarted"
    (root / "config" / "ctoops.yaml").write_text(yaml.safe_dump({"gateway": {
        "restart_command": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]}}))
    assert run_ctoops(["status"], root=root).returncode == 0  # a state, an audit log
    return root


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_config_file_is_one_clear_line_and_changes_nothing(
        marked_workspace: Path, shared_forkserver: ForkServer, case: str) -> None:
    """Through the real Typer app, forked (no interpreter start-up per command);
    the last case also as separate processes, start-up included."""
    root = marked_workspace
    config = root / "config" / "ctoops.yaml"
    good = config.read_bytes()
    config.write_bytes(BAD_FILES[case])
    try:
        before = tree_bytes(root)
        for args, code in COMMANDS:
            ran = (run_ctoops(args, root=root) if case == "utf16"
                   else shared_forkserver.cli("--root", str(root), *args))
            lines = ran.stderr.splitlines()
            assert ran.returncode == code, (args, ran.returncode, ran.stderr[-2000:])
            assert len(lines) == 1 and lines[0].startswith("ctoops: "), (args, ran.stderr[-2000:])
            assert str(config) in lines[0] and "Traceback" not in ran.stderr
        assert tree_bytes(root) == before  # not a byte written, nothing restarted
        assert not (root.parent / "restarted").exists()
        assert not Path("/tmp/ctoops-pwned").exists()
    finally:
        config.write_bytes(good)
