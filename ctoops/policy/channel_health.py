"""When a Discord channel may be tried, and what one attempt teaches about it.

Pure transitions over the per-channel memory kept in
`state["commands"]["notify"]["channels"][name]`, so the rules are testable
without HTTP:

- a 429 sets `backoff_until` to what Discord asked (always honoured: hammering a
  rate-limited route gets the host's IP banned by Cloudflare);
- a 5xx, a timeout or a refused connection backs off exponentially between runs
  (30 s, 60 s, ... 15 min) so a down Discord is not hit every minute by every
  timer; an operator's `notify flush` or an urgent notice may try anyway;
- 401/403/404 mean the credential or id is wrong: after AUTH_STOP_AFTER of them
  in a row with the same credential the channel is stopped until the credential
  changes or `notify test` succeeds (Discord also bans IPs that send many
  invalid requests);
- one success clears everything.
"""

from __future__ import annotations

from typing import Any

BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 900.0
AUTH_STOP_AFTER = 3

SENT, RATE_LIMITED, TRANSIENT, AUTH, REJECTED = "sent", "rate_limited", "transient", "auth", "rejected"


def backoff_s(failures: int) -> float:
    """Seconds to wait after `failures` transient failures in a row (>= 1)."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, failures - 1))


def current(rec: dict[str, Any] | None, credential: str) -> dict[str, Any]:
    """The channel's memory, reset when the credential changed (an operator fixed it)."""
    if not rec or rec.get("credential") != credential:
        return {"credential": credential, "failures": 0, "auth_failures": 0,
                "backoff_until": 0.0, "backoff_kind": "", "last_error": ""}
    return dict(rec)


def usable(rec: dict[str, Any], now: float, *, ignore_backoff: bool = False,
           ignore_auth_stop: bool = False) -> tuple[bool, str]:
    """(may this channel be tried now, why not)."""
    auth = int(rec.get("auth_failures", 0))
    if auth >= AUTH_STOP_AFTER and not ignore_auth_stop:
        return False, (f"stopped: the credential was rejected {auth} times in a row "
                       f"({rec.get('last_error', '')}); fix it, then run `ctoops notify test`")
    until = float(rec.get("backoff_until", 0.0))
    if until > now:
        if rec.get("backoff_kind") == RATE_LIMITED:
            return False, f"rate limited by Discord for {until - now:.1f} s more"
        if not ignore_backoff:
            return False, (f"backing off for {until - now:.0f} s more after "
                           f"{rec.get('failures', 0)} failure(s): {rec.get('last_error', '')}")
    return True, ""


def after(rec: dict[str, Any], outcome: str, now: float, detail: str = "",
          retry_after_s: float | None = None) -> dict[str, Any]:
    """The channel's memory after one attempt with `outcome`."""
    out = dict(rec)
    if outcome == SENT:
        out.update(failures=0, auth_failures=0, backoff_until=0.0, backoff_kind="",
                   last_error="", last_ok_ts=now)
    elif outcome == RATE_LIMITED:
        wait = max(0.0, retry_after_s or 0.0)
        out.update(backoff_until=max(float(out.get("backoff_until", 0.0)), now + wait),
                   backoff_kind=RATE_LIMITED, last_error=detail)
    elif outcome == TRANSIENT:
        failures = int(out.get("failures", 0)) + 1
        out.update(failures=failures, backoff_until=now + backoff_s(failures),
                   backoff_kind="error", last_error=detail)
    elif outcome == AUTH:
        out.update(auth_failures=int(out.get("auth_failures", 0)) + 1, last_error=detail)
    elif outcome == REJECTED:
        out.update(last_error=detail)  # this message was bad, not the channel
    return out
