"""Load the configuration into frozen dataclasses, or fail naming the key.

Why hand-rolled validation and not pydantic: the design card's dependency list
leaves it out, and the every-minute path pays for every import. The packaged
`default_config.yaml` is the documentation of every key; a workspace file is
merged over it, so it need only name what it changes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ctoops.errors import ConfigError
from ctoops.redaction import mask, register

MAX_CONFIG_BYTES = 1 << 20  # a real configuration is a few KiB
MAX_FLOAT = 1e300
MAX_INT = 2**53
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET = {"secret": True}
CONFIG_CACHE = ".config-cache.json"  # in the workspace's memory/ folder


@dataclass(frozen=True)
class GatewayConfig:
    unit: str
    systemd_scope: str
    restart_command: list[str]
    restart_timeout_s: float
    health_url: str
    probe_timeout_s: float
    ready_timeout_s: float
    settle_s: float
    state_dir: str
    log_dir: str
    cgroup: str
    process_name: str
    openclaw_bin: str

    def __post_init__(self) -> None:
        if self.systemd_scope not in ("system", "user"):
            raise ValueError("systemd_scope: expected 'system' or 'user'")
        if not self.restart_command:
            raise ValueError("restart_command: expected a non-empty argv list")


@dataclass(frozen=True)
class GuardrailsConfig:
    medium_actions_per_window: int
    medium_window_s: float
    restarts_per_window: int
    restart_window_s: float
    kill_switch_enabled: bool
    kill_switch_window_ms: int
    kill_critical_retries: int
    intent_lease_s: float


@dataclass(frozen=True)
class DiscordConfig:
    webhook_url: str = field(metadata=SECRET)
    channel: str
    channel_id: str
    bot_token_env: str
    api_base: str
    timeout_s: float
    max_inline_wait_s: float

    def __post_init__(self) -> None:
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook_url: expected an https:// URL (value not shown: a secret)")
        if not self.api_base.startswith(("https://", "http://")):
            raise ValueError("api_base: expected an https:// URL")
        if self.channel_id and not self.channel_id.isdigit():
            raise ValueError("channel_id: expected a Discord channel id (digits, quoted)")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s: expected a number > 0")


@dataclass(frozen=True)
class NotifyConfig:
    order: list[str]
    discord: DiscordConfig
    restart_notice_delay_s: float
    repeat_interval_s: float
    outbox_max_age_s: float
    mc_output: str

    def __post_init__(self) -> None:
        known = {"discord_bot", "discord_webhook", "mc_output", "syslog"}
        unknown = [name for name in self.order if name not in known]
        if unknown:
            raise ValueError(f"order: unknown channel {unknown[0]!r} (known: {sorted(known)})")


@dataclass(frozen=True)
class Threshold:
    medium: float
    high: float
    clear: float

    def __post_init__(self) -> None:
        if not self.clear <= self.medium <= self.high:
            raise ValueError("expected clear <= medium <= high")


@dataclass(frozen=True)
class ResourcesConfig:
    enter_samples: int
    exit_samples: int
    rate_min_window_s: float
    cpu_percent: Threshold
    memory_percent: Threshold
    swap_percent: Threshold
    disk_percent: Threshold
    gateway_memory_high_ratio: float
    gateway_memory_ceiling_bytes: int
    gateway_confirm_samples: int
    gpu_enabled: bool
    procfs_path: str
    sysfs_path: str

    def __post_init__(self) -> None:
        if self.enter_samples < 1 or self.exit_samples < 1:
            raise ValueError("enter_samples and exit_samples: expected at least 1")
        if not 0.0 < self.gateway_memory_high_ratio <= 1.0:
            raise ValueError("gateway_memory_high_ratio: expected a fraction in (0, 1]")
        if not 1 <= self.gateway_confirm_samples <= 3:
            # R12: the restart must come within 3 consecutive runs above the ratio.
            raise ValueError("gateway_confirm_samples: expected 1, 2 or 3 (R12)")


@dataclass(frozen=True)
class SessionsConfig:
    session_stall_s: float
    cron_retention_s: float
    heartbeat_interval_s: float
    heartbeat_stale_factor: float
    max_auto_retries: int
    backoff_base_s: float
    backoff_cap_s: float
    healthy_reset_s: float
    board_path: str


STORM_SOURCES = ("gateway_log", "journal", "cron", "events")


@dataclass(frozen=True)
class RetryStormConfig:
    threshold: int
    window_s: float
    job_consecutive_errors: int
    freeze_s: float
    freeze_max_s: float
    max_bytes_per_run: int
    events_path: str
    sources: list[str]
    log_prefix: str
    log_levels: list[str]
    journal_max_priority: int
    journal_directory: str
    journal_timeout_s: float
    max_fingerprints: int

    def __post_init__(self) -> None:
        unknown = [name for name in self.sources if name not in STORM_SOURCES]
        if unknown:
            raise ValueError(f"sources: unknown source {unknown[0]!r} (known: {list(STORM_SOURCES)})")
        if self.threshold < 1 or self.job_consecutive_errors < 1:
            raise ValueError("threshold and job_consecutive_errors must be at least 1")
        if self.window_s <= 0:
            raise ValueError("window_s must be above 0")
        if self.freeze_max_s < self.freeze_s:
            raise ValueError("freeze_max_s must be at least freeze_s")
        if self.max_bytes_per_run < 4096:
            raise ValueError("max_bytes_per_run must be at least 4096")
        if self.journal_max_priority > 7:
            raise ValueError("journal_max_priority: expected 0 (emerg) .. 7 (debug)")
        if self.max_fingerprints < 1:
            raise ValueError("max_fingerprints must be at least 1")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.log_prefix):
            raise ValueError("log_prefix: expected a file-name prefix such as 'openclaw'")


@dataclass(frozen=True)
class ZombieConfig:
    zombie_confirm_samples: int
    auto_restart_zombie: bool
    journal_lines: int
    bundle_max_bytes: int


@dataclass(frozen=True)
class RestartConfig:
    backups_keep: int
    prune_retries: int
    sidecar_lock_wait_s: float
    sidecar_stale_s: float
    maintenance_timeout_s: float
    expected_reduction_min_pct: float
    expected_reduction_max_pct: float

    def __post_init__(self) -> None:
        if self.expected_reduction_min_pct > self.expected_reduction_max_pct:
            raise ValueError("expected_reduction_min_pct must not exceed expected_reduction_max_pct")


@dataclass(frozen=True)
class Config:
    gateway: GatewayConfig
    guardrails: GuardrailsConfig
    notify: NotifyConfig
    resources: ResourcesConfig
    sessions: SessionsConfig
    retry_storm: RetryStormConfig
    zombie: ZombieConfig
    restart: RestartConfig
    source: str = field(default="<defaults>", compare=False)


def default_config_text() -> str:
    return resources.files("ctoops").joinpath("default_config.yaml").read_text(encoding="utf-8")


def _yaml_load(text: str, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:  # PyYAML's text spans lines: one line for the journal
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: not a usable configuration: nested too deeply") from exc
    except ValueError as exc:  # an integer with thousands of digits
        raise ConfigError(f"{source}: not a usable configuration: {exc}") from exc


def load_config(path: Path | None, cache_dir: Path | None = None) -> Config:
    """Defaults, then the file at `path` (if given and present) merged over them.

    With `cache_dir` (the workspace's memory/ folder; cli passes it except under
    --dry-run) the merged result is kept in `.config-cache.json` there, keyed by the
    sha256 of both YAML texts and the ctoops version: an unchanged configuration
    then loads without PyYAML, which costs ~8 ms of imports on every timer run.
    Validation runs on every load either way, and only a configuration that
    validated is cached (never one holding a literal secret)."""
    defaults_text = default_config_text()
    if path is None or not path.exists():
        if path is not None and os.environ.get("CTOOPS_CONFIG") == str(path):
            raise ConfigError(f"{path}: config file named by CTOOPS_CONFIG does not exist")
        user_text, source, label = None, "<packaged defaults>", "<defaults>"
    else:
        source = label = str(path)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ConfigError(f"{source}: larger than {MAX_CONFIG_BYTES >> 10} KiB; not a "
                                  "ctoops configuration")
            user_text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read: {exc}") from exc
    key = _cache_key(defaults_text, user_text)
    merged = _cache_get(cache_dir, key)
    if merged is not None:
        try:
            cfg = _build(Config, _expand(merged), "", source, {"source": label})
        except ConfigError:
            merged = None  # a damaged cache: the files decide
    if merged is None:
        try:
            merged = _parse(defaults_text, user_text, source)
            cfg = _build(Config, _expand(merged), "", source, {"source": label})
        except RecursionError as exc:  # a value nested a few hundred levels deep
            raise ConfigError(f"{source}: not a usable configuration: nested too deeply") from exc
        _cache_put(cache_dir, key, merged)
    _register_secrets(cfg)
    return cfg


def _parse(defaults_text: str, user_text: str | None, source: str) -> Any:
    defaults = _yaml_load(defaults_text, "<packaged defaults>")
    if user_text is None:
        return defaults
    user = _yaml_load(user_text, source)
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    return _merge(defaults, user, "", source)


def _cache_key(defaults_text: str, user_text: str | None) -> dict[str, str]:
    from hashlib import sha256  # already loaded by Typer's imports

    from ctoops import __version__

    return {"ctoops": __version__,
            "defaults_sha256": sha256(defaults_text.encode("utf-8")).hexdigest(),
            "config_sha256": "" if user_text is None else sha256(user_text.encode("utf-8")).hexdigest()}


def _cache_get(cache_dir: Path | None, key: dict[str, str]) -> Any:
    """The cached merged configuration for exactly these texts, or None."""
    if cache_dir is None:
        return None
    import json

    try:
        doc = json.loads((cache_dir / CONFIG_CACHE).read_bytes())
    except (OSError, ValueError):
        return None  # none yet, unreadable or damaged: parse the YAML
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("merged"), dict):
        return None
    return doc["merged"]


def _cache_put(cache_dir: Path | None, key: dict[str, str], merged: Any) -> None:
    """Keep a validated configuration for the next run; best effort (a read-only
    workspace just parses the YAML each run). Never a configuration that holds a
    secret itself rather than a ${VARIABLE} naming it: secrets stay out of files."""
    if cache_dir is None or not cache_dir.is_dir() or _holds_literal_secret(merged):
        return
    import json

    from ctoops.workspace import atomic_write

    data = json.dumps({"key": key, "merged": merged}, ensure_ascii=False, default=str)
    try:
        atomic_write(cache_dir / CONFIG_CACHE, data.encode("utf-8"))
    except OSError:
        return  # a cache only: the next run parses the YAML again and retries


def _holds_literal_secret(merged: Any) -> bool:
    for key_path in secret_paths():
        node = merged
        for part in key_path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node and not (isinstance(node, str) and _ENV_REF.fullmatch(node.strip())):
            return True
    return False


def _register_secrets(cfg: Config) -> None:
    register(cfg.notify.discord.webhook_url)
    if cfg.notify.discord.bot_token_env:
        register(os.environ.get(cfg.notify.discord.bot_token_env, ""))


def _merge(base: Any, over: Any, where: str, source: str) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            key_path = f"{where}.{key}" if where else str(key)
            if key not in base:
                raise ConfigError(f"{source}: unknown key {key_path!r}")
            out[key] = _merge(base[key], value, key_path, source)
        return out
    if isinstance(base, dict) and not isinstance(over, dict):
        raise ConfigError(f"{source}: key {where!r}: expected a mapping, got {_kind(over)}")
    return over


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _build(
    cls: type, data: Any, where: str, source: str, extra: dict[str, Any] | None = None
) -> Any:
    extra = extra or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: key {where or '<top>'!r}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in extra}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {(where + '.' if where else '') + str(key)!r}")
    values: dict[str, Any] = dict(extra)
    for name in fields:
        key_path = f"{where}.{name}" if where else name
        if name not in data:
            raise ConfigError(f"{source}: missing key {key_path!r}")
        values[name] = _coerce(hints[name], data[name], key_path, source)
    try:
        return cls(**values)
    except ValueError as exc:
        raise ConfigError(f"{source}: key {where!r}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, source)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = next(o for o in options if o is not type(None))
        return _coerce(inner, value, where, source)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: key {where!r}: expected a list, got {_kind(value)}")
        return [_coerce(item, v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: key {where!r}: expected true or false, got {_kind(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ConfigError(f"{source}: key {where!r}: expected a number >= 0, got {value}")
            if value > MAX_INT:  # every int setting is also used in float arithmetic
                raise ConfigError(f"{source}: key {where!r}: expected an integer up to 2**53")
            return value
        raise ConfigError(f"{source}: key {where!r}: expected an integer, got {_kind(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                raise ConfigError(f"{source}: key {where!r}: expected a number >= 0, got {value}")
            # NaN compares false with everything: a NaN window would disable a limit.
            if (isinstance(value, int) and value > MAX_FLOAT) or not math.isfinite(value):
                raise ConfigError(f"{source}: key {where!r}: expected a finite number, "
                                  f"got {value if isinstance(value, float) else 'a huge integer'}")
            return float(value)
        raise ConfigError(f"{source}: key {where!r}: expected a number, got {_kind(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        raise ConfigError(f"{source}: key {where!r}: expected a string, got {_kind(value)}")
    raise ConfigError(f"{source}: key {where!r}: unsupported type {hint!r}")  # a bug, not input


def secret_paths(cls: type = Config, where: str = "") -> list[str]:
    """Dotted keys marked secret, so `config show` and errors can redact them."""
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key_path = f"{where}.{f.name}" if where else f.name
        if f.metadata.get("secret"):
            out.append(key_path)
        elif dataclasses.is_dataclass(hints[f.name]):
            out.extend(secret_paths(hints[f.name], key_path))
    return out


def config_as_dict(cfg: Config) -> dict[str, Any]:
    """The effective configuration with every secret redacted."""
    data = dataclasses.asdict(cfg)
    data.pop("source", None)
    for key_path in secret_paths():
        node = data
        *parents, leaf = key_path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = mask(node[leaf])
    return data
