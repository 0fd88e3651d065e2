"""Config loading (R31, DESIGN.md "Configuration contract"): defaults, merge,
${ENV} expansion, and an error naming the file and the key for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctoops.config import config_as_dict, load_config
from ctoops.errors import ConfigError
from tests.conftest import run_ctoops


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ctoops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_r31_packaged_defaults_match_design_contract() -> None:
    cfg = load_config(None)
    assert cfg.gateway.unit == "openclaw-gateway"
    assert cfg.gateway.restart_command == ["sudo", "systemctl", "restart", "openclaw-gateway"]
    assert cfg.gateway.health_url == "http://127.0.0.1:18789"
    assert cfg.guardrails.medium_actions_per_window == 1
    assert cfg.guardrails.medium_window_s == 600
    assert cfg.guardrails.restarts_per_window == 3
    assert cfg.guardrails.restart_window_s == 3600
    assert cfg.guardrails.kill_switch_enabled is True
    assert cfg.guardrails.kill_switch_window_ms == 300000
    assert cfg.guardrails.kill_critical_retries == 2
    assert cfg.notify.discord.channel == "general-luna"
    assert cfg.notify.restart_notice_delay_s == 3


def test_repo_config_is_the_packaged_default() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert (repo / "config" / "ctoops.yaml").read_bytes() == \
        (repo / "ctoops" / "default_config.yaml").read_bytes()


def test_partial_file_merges_over_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "guardrails:\n  restarts_per_window: 5\n"))
    assert cfg.guardrails.restarts_per_window == 5
    assert cfg.guardrails.kill_critical_retries == 2
    assert cfg.source == str(tmp_path / "ctoops.yaml")


def test_env_expansion_and_unset_becomes_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.setenv("CT_TEST_UNIT", "gw-prod")
    monkeypatch.delenv("CT_TEST_UNSET", raising=False)
    cfg = load_config(_write(tmp_path, "gateway:\n  unit: ${CT_TEST_UNIT}\n"
                                       "  openclaw_bin: x${CT_TEST_UNSET}y\n"))
    assert cfg.gateway.unit == "gw-prod"
    assert cfg.gateway.openclaw_bin == "xy"


def test_webhook_secret_is_redacted_in_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    secret = "https://discord.com/api/webhooks/123/SECRETTOKENabcd"
    monkeypatch.setenv("CTOOPS_DISCORD_WEBHOOK", secret)
    shown = config_as_dict(load_config(None))
    assert shown["notify"]["discord"]["webhook_url"] == "…/abcd"
    assert "SECRETTOKEN" not in repr(shown)


@pytest.mark.parametrize(("text", "needle"), [
    ("gateway:\n  colour: blue\n", "unknown key 'gateway.colour'"),
    ("nonsense: 1\n", "unknown key 'nonsense'"),
    ("guardrails:\n  restarts_per_window: three\n",
     "key 'guardrails.restarts_per_window': expected an integer, got str"),
    ("guardrails:\n  restarts_per_window: true\n",
     "key 'guardrails.restarts_per_window': expected an integer, got bool"),
    ("guardrails:\n  restarts_per_window: -1\n", "expected a number >= 0"),
    ("guardrails:\n  kill_switch_enabled: 'yes'\n",
     "key 'guardrails.kill_switch_enabled': expected true or false"),
    ("guardrails:\n  medium_window_s: [1]\n", "key 'guardrails.medium_window_s': expected a number"),
    ("gateway:\n  restart_command: 'sudo systemctl restart x'\n",
     "key 'gateway.restart_command': expected a list"),
    ("gateway:\n  restart_command: []\n", "restart_command: expected a non-empty argv list"),
    ("gateway:\n  restart_command: [sudo, 3]\n", "key 'gateway.restart_command[1]': expected a string"),
    ("gateway:\n  systemd_scope: global\n", "systemd_scope: expected 'system' or 'user'"),
    ("gateway: 5\n", "key 'gateway': expected a mapping, got int"),
    ("- a\n- b\n", "expected a mapping of sections at the top level"),
    ("gateway: {unit: [\n", "not valid YAML"),
    ("notify:\n  order: [pigeon]\n", "unknown channel 'pigeon'"),
    ("resources:\n  cpu_percent: {medium: 90, high: 80, clear: 10}\n",
     "expected clear <= medium <= high"),
])
def test_every_validation_error_names_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_non_utf8_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ctoops.yaml"
    path.write_bytes(b"gateway:\n  unit: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")).guardrails.restarts_per_window == 3


@pytest.mark.parametrize(("args", "code"), [
    (["status"], 3), (["check", "resources"], 3), (["check", "sessions"], 3),
    (["retry-storm"], 3), (["zombie-report"], 3),
    (["safe-restart", "--reason", "x"], 78), (["config", "validate"], 78),
])
def test_bad_config_exit_codes_and_one_clear_line(tmp_path: Path, args: list[str], code: int
                                                  ) -> None:
    root = tmp_path / "ws"
    (root / "config").mkdir(parents=True)
    (root / "config" / "ctoops.yaml").write_text("guardrails:\n  restarts_per_window: lots\n")
    ran = run_ctoops(args, root=root)
    assert ran.returncode == code, ran.stderr
    assert "guardrails.restarts_per_window" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    ran = run_ctoops(["--config", str(tmp_path / "nope.yaml"), "safe-restart", "--reason", "x"],
                     root=tmp_path)
    assert ran.returncode == 78
    assert "does not exist" in ran.stderr
