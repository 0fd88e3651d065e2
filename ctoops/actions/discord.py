"""Discord over HTTP: the bot API and webhooks, one POST at a time.

What this module knows: where to POST (and with which credential), and how to
read Discord's answer into one of five outcomes (sent, rate_limited, transient,
auth, rejected) with the numbers the caller needs (how long to wait, how many
requests are left in the bucket). What it leaves to others: the order of
channels, waiting, retrying and the outbox (`delivery.py`), and the message body
(`discord_payload.py`).

`requests` is imported only by `open_session()`, i.e. only when something is to
be sent: the every-minute path with nothing to say never pays for it.

Secrets: the webhook URL and the bot token are registered with the redaction net
when a target is built, the webhook's token path segment too (a connection error
names the URL's path without its scheme); every detail this module returns is
written by it in words, never an exception's text.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ctoops.policy.channel_health import AUTH, RATE_LIMITED, REJECTED, SENT, TRANSIENT
from ctoops.redaction import mask, register, scrub

if TYPE_CHECKING:
    from ctoops.config import NotifyConfig

REMOTE = ("discord_bot", "discord_webhook")
DEFAULT_RETRY_AFTER_S = 30.0  # a 429 that says nothing (a Cloudflare page)
USER_AGENT = "DiscordBot (https://github.com/ctoops/ctoops, 0.1) ctoops"
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")


@dataclass(frozen=True)
class Target:
    """One configured Discord channel. `url` and `headers` hold the secret; only
    `label` (masked) is ever shown."""

    name: str
    label: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    credential: str = ""  # a short fingerprint: tells "the credential changed"


@dataclass(frozen=True)
class Skipped:
    """A channel in `notify.order` that cannot be used in this run, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Attempt:
    outcome: str  # sent | rate_limited | transient | auth | rejected
    status: int | None
    detail: str
    retry_after_s: float | None = None
    is_global: bool = False
    remaining: int | None = None  # X-RateLimit-Remaining after this request
    reset_after_s: float | None = None  # X-RateLimit-Reset-After
    elapsed_s: float = 0.0


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def targets(cfg: NotifyConfig, env: dict[str, str] | None = None) -> list[Target | Skipped]:
    """The remote channels of `cfg.order`, in order: usable targets or why not."""
    env = os.environ if env is None else env
    d = cfg.discord
    out: list[Target | Skipped] = []
    for name in cfg.order:
        if name == "discord_bot":
            token = env.get(d.bot_token_env, "") if d.bot_token_env else ""
            if not d.channel_id or not token:
                missing = [what for what, have in (("notify.discord.channel_id", d.channel_id), (
                    f"the token in ${d.bot_token_env or '<notify.discord.bot_token_env>'}",
                    token)) if not have]
                out.append(Skipped(name, "not configured: " + " and ".join(missing) + " empty"))
                continue
            register(token)
            out.append(Target(
                name, f"discord bot channel {d.channel_id} (token {mask(token)})",
                f"{d.api_base.rstrip('/')}/channels/{d.channel_id}/messages",
                {"Authorization": f"Bot {token}", "User-Agent": USER_AGENT},
                _fingerprint(f"{d.api_base}|{d.channel_id}|{token}")))
        elif name == "discord_webhook":
            if not d.webhook_url:
                out.append(Skipped(name, "not configured: notify.discord.webhook_url is empty "
                                         "(set CTOOPS_DISCORD_WEBHOOK)"))
                continue
            register(d.webhook_url)
            token = urlsplit(d.webhook_url).path.rstrip("/").rsplit("/", 1)[-1]
            register(token)
            sep = "&" if "?" in d.webhook_url else "?"
            out.append(Target(name, f"discord webhook #{d.channel} {mask(d.webhook_url)}",
                              f"{d.webhook_url}{sep}wait=true", {"User-Agent": USER_AGENT},
                              _fingerprint(d.webhook_url)))
    return out


def open_session() -> Any:
    """A requests.Session (keep-alive across the messages of one run)."""
    import requests

    return requests.Session()


def post(session: Any, target: Target, payload: dict[str, Any], timeout_s: float) -> Attempt:
    """One POST; never raises for network or HTTP trouble (it becomes an Attempt)."""
    import requests

    start = time.monotonic()
    try:
        resp = session.post(target.url, json=payload, headers=target.headers,
                            timeout=(timeout_s, timeout_s), allow_redirects=False)
    except requests.Timeout:
        return Attempt(TRANSIENT, None, f"{target.label}: no answer within {timeout_s:g} s",
                       elapsed_s=time.monotonic() - start)
    except requests.ConnectionError as exc:
        why = _ERRNO.search(str(exc))
        return Attempt(TRANSIENT, None, f"{target.label}: cannot connect"
                       + (f" ({why.group(0).strip()})" if why else ""),
                       elapsed_s=time.monotonic() - start)
    except requests.RequestException as exc:
        return Attempt(TRANSIENT, None, f"{target.label}: request failed ({type(exc).__name__})",
                       elapsed_s=time.monotonic() - start)
    elapsed = time.monotonic() - start
    return classify(target, resp.status_code, resp.headers, _json(resp), elapsed)


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def classify(target: Target, status: int, headers: Any, body: Any, elapsed_s: float = 0.0
             ) -> Attempt:
    """Discord's answer -> an Attempt (pure: headers is any mapping, body parsed JSON)."""
    remaining = _num(headers.get("X-RateLimit-Remaining"))
    reset_after = _num(headers.get("X-RateLimit-Reset-After"))
    common: dict[str, Any] = {"remaining": None if remaining is None else int(remaining),
                              "reset_after_s": reset_after, "elapsed_s": elapsed_s}
    if 200 <= status < 300:
        return Attempt(SENT, status, f"{target.label}: delivered (HTTP {status})", **common)
    if status == 429:
        wait, is_global = retry_after(headers, body)
        scope = "global rate limit" if is_global else "rate limited"
        return Attempt(RATE_LIMITED, status, f"{target.label}: {scope}, retry after {wait:.2f} s",
                       wait, is_global, **common)
    message = _discord_message(body)
    if status in (401, 403, 404):
        what = {401: "the token or webhook was refused", 403: "no permission to post there",
                404: "unknown webhook or channel"}[status]
        return Attempt(AUTH, status, f"{target.label}: HTTP {status}: {what}{message} -- the "
                       "credential or id in the configuration is wrong", **common)
    if status >= 500:
        return Attempt(TRANSIENT, status, f"{target.label}: Discord error HTTP {status}", **common)
    return Attempt(REJECTED, status, f"{target.label}: message rejected, HTTP {status}{message}",
                   **common)


def _discord_message(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        code = f" code {body['code']}" if body.get("code") is not None else ""
        return f" ({scrub(str(body['message']))[:160]}{code})"
    return ""


def retry_after(headers: Any, body: Any) -> tuple[float, bool]:
    """Seconds to wait after a 429, and whether the limit is global.

    Discord's v8+ body gives `retry_after` in seconds (a float); older APIs and
    some proxies give milliseconds. The `Retry-After` header (whole seconds,
    rounded up) or `X-RateLimit-Reset-After` tells which: the body value is read
    as whichever unit agrees with them. Without either, an integer of 1000 or more
    is taken as milliseconds (no real route limit lasts 16 minutes)."""
    is_global = bool(isinstance(body, dict) and body.get("global")) or \
        str(headers.get("X-RateLimit-Global", "")).lower() == "true" or \
        str(headers.get("X-RateLimit-Scope", "")).lower() == "global"
    ref = _num(headers.get("Retry-After"))
    if ref is None:
        ref = _num(headers.get("X-RateLimit-Reset-After"))
    raw = body.get("retry_after") if isinstance(body, dict) else None
    value = _num(raw)
    if value is None:
        return (ref if ref is not None else DEFAULT_RETRY_AFTER_S), is_global
    if ref is not None:
        slack = max(1.0, 0.2 * ref)
        if abs(value - ref) <= slack:
            return value, is_global
        if abs(value / 1000.0 - ref) <= slack:
            return value / 1000.0, is_global
        return ref, is_global  # they disagree: Discord's own header wins
    if isinstance(raw, int) and value >= 1000:
        return value / 1000.0, is_global
    return value, is_global
