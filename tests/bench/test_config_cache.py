"""The parsed-config cache (memory/.config-cache.json) saves the every-minute run
PyYAML's imports (R1, issue 12) and must never change what the config says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctoops import config
from ctoops.config import CONFIG_CACHE, load_config
from ctoops.errors import ConfigError
from tests.conftest import ctoops_env

BASE = """\
gateway:
  unit: gw-one
  restart_command: [systemctl, --user, restart, gw-one]
guardrails:
  restarts_per_window: 5
"""


def _setup(tmp_path: Path, text: str = BASE) -> tuple[Path, Path]:
    cfg = tmp_path / "config" / "ctoops.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text, encoding="utf-8")
    memory = tmp_path / "memory"
    memory.mkdir()
    return cfg, memory


def test_r1_cached_load_equals_a_fresh_parse(tmp_path: Path) -> None:
    cfg, memory = _setup(tmp_path)
    first = load_config(cfg, memory)
    assert (memory / CONFIG_CACHE).is_file()
    assert oct((memory / CONFIG_CACHE).stat().st_mode & 0o777) == "0o640"
    second = load_config(cfg, memory)
    assert first == second == load_config(cfg)
    assert second.source == str(cfg) and second.gateway.unit == "gw-one"


def test_r1_an_unchanged_config_loads_without_yaml(tmp_path: Path) -> None:
    cfg, memory = _setup(tmp_path)
    code = ("import sys; from pathlib import Path; from ctoops.config import load_config; "
            "c = load_config(Path(sys.argv[1]), Path(sys.argv[2])); "
            "print(c.gateway.unit, 'yaml' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, str(cfg), str(memory)], env=ctoops_env(),
                           capture_output=True, text=True, timeout=60, check=True).stdout.split()
            for _ in range(2)]
    assert runs == [["gw-one", "True"], ["gw-one", "False"]]


def test_r1_an_edited_config_is_read_again_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    cfg, memory = _setup(tmp_path)
    load_config(cfg, memory)
    stat = cfg.stat()
    cfg.write_text(BASE.replace("gw-one", "gw-two"), encoding="utf-8")
    os.utime(cfg, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_config(cfg, memory).gateway.unit == "gw-two"


def test_r1_new_packaged_defaults_are_not_hidden_by_the_cache(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, memory = _setup(tmp_path)
    assert load_config(cfg, memory).retry_storm.threshold == 10
    newer = config.default_config_text().replace("  threshold: 10\n", "  threshold: 12\n", 1)
    assert newer != config.default_config_text()
    monkeypatch.setattr(config, "default_config_text", lambda: newer)
    assert load_config(cfg, memory).retry_storm.threshold == 12


@pytest.mark.parametrize("damage", [b"{not json", b"[]", b'{"key": 1}', None])
def test_r1_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path, damage: bytes | None) -> None:
    cfg, memory = _setup(tmp_path)
    load_config(cfg, memory)
    cache = memory / CONFIG_CACHE
    if damage is None:  # the right key, values no config could hold
        doc = json.loads(cache.read_bytes())
        doc["merged"]["guardrails"]["restarts_per_window"] = "lots"
        damage = json.dumps(doc).encode()
    cache.write_bytes(damage)
    assert load_config(cfg, memory).guardrails.restarts_per_window == 5
    assert json.loads(cache.read_bytes())["merged"]["guardrails"]["restarts_per_window"] == 5


def test_r1_an_invalid_config_is_reported_the_same_and_not_cached(tmp_path: Path) -> None:
    cfg, memory = _setup(tmp_path, BASE.replace("restarts_per_window: 5", "restarts_per_window: x"))
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"guardrails\.restarts_per_window"):
            load_config(cfg, memory)
    assert not (memory / CONFIG_CACHE).exists()


def test_r1_a_literal_secret_is_never_cached(tmp_path: Path) -> None:
    secret = "https://discord.com/api/webhooks/123/very-secret-token"
    cfg, memory = _setup(tmp_path, BASE + f"notify:\n  discord:\n    webhook_url: {secret}\n")
    assert load_config(cfg, memory).notify.discord.webhook_url == secret
    assert not (memory / CONFIG_CACHE).exists()


def test_r1_a_secret_from_the_environment_is_expanded_after_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, memory = _setup(tmp_path, BASE + "notify:\n  discord:\n    webhook_url: ${BENCH_HOOK}\n")
    monkeypatch.setenv("BENCH_HOOK", "https://discord.com/api/webhooks/1/first-secret")
    assert load_config(cfg, memory).notify.discord.webhook_url.endswith("first-secret")
    assert b"first-secret" not in (memory / CONFIG_CACHE).read_bytes()
    monkeypatch.setenv("BENCH_HOOK", "https://discord.com/api/webhooks/1/second-secret")
    assert load_config(cfg, memory).notify.discord.webhook_url.endswith("second-secret")


def test_r1_an_unwritable_cache_only_costs_the_parse(tmp_path: Path) -> None:
    cfg, memory = _setup(tmp_path)
    (memory / CONFIG_CACHE).mkdir()  # the replace fails: nothing to keep, nothing lost
    assert load_config(cfg, memory).gateway.unit == "gw-one"
    assert load_config(cfg, tmp_path / "no-such-folder").gateway.unit == "gw-one"
    assert not (tmp_path / "no-such-folder").exists()


def test_r1_dry_run_writes_no_cache(workspace: Path) -> None:
    env = ctoops_env()
    base = [sys.executable, "-m", "ctoops", "--root", str(workspace)]
    (workspace / "memory").mkdir(exist_ok=True)
    run = subprocess.run([*base, "--dry-run", "--json", "config", "show"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert not (workspace / "memory" / CONFIG_CACHE).exists()
    shown = [subprocess.run([*base, "--json", "config", "show"], env=env, capture_output=True,
                            text=True, timeout=60, check=True).stdout for _ in range(2)]
    assert (workspace / "memory" / CONFIG_CACHE).exists()
    assert shown[0] == shown[1] == run.stdout
