"""The gateway's unauthenticated HTTP probes: GET /healthz and /readyz.

stdlib urllib on purpose: these run every minute and `requests` costs ~80 ms of
imports. Short timeouts: a zombie answers neither in time, and that is a result
(`answered=False`), not an exception.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpProbe:
    url: str
    answered: bool
    status: int | None
    elapsed_s: float
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class GatewayHealth:
    live: HttpProbe  # /healthz
    ready: HttpProbe  # /readyz

    @property
    def is_live(self) -> bool:
        return self.live.answered and self.live.status == 200 and bool(self.live.body.get("ok"))

    @property
    def is_ready(self) -> bool:
        return self.ready.answered and bool(self.ready.body.get("ready"))

    @property
    def event_loop_degraded(self) -> bool:
        loop = self.ready.body.get("eventLoop") or {}
        return bool(loop.get("degraded"))


def get_json(url: str, timeout_s: float) -> HttpProbe:
    start = time.monotonic()
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(request, timeout=timeout_s) as resp:
            status, raw = resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:  # a 503 from /readyz still carries a body
        status, raw = exc.code, exc.read(65536)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return HttpProbe(url, False, None, time.monotonic() - start, error=str(reason))
    elapsed = time.monotonic() - start
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return HttpProbe(url, True, status, elapsed, error="body is not JSON")
    return HttpProbe(url, True, status, elapsed, body if isinstance(body, dict) else {})


def probe_gateway(base_url: str, timeout_s: float) -> GatewayHealth:
    base = base_url.rstrip("/")
    return GatewayHealth(get_json(base + "/healthz", timeout_s), get_json(base + "/readyz", timeout_s))


def wait_ready(base_url: str, deadline_s: float, timeout_s: float, interval_s: float = 1.0
               ) -> tuple[bool, float, GatewayHealth | None]:
    """Poll /readyz until ready or the deadline; (ready, seconds waited, last probe)."""
    start = time.monotonic()
    last: GatewayHealth | None = None
    while True:
        last = probe_gateway(base_url, timeout_s)
        waited = time.monotonic() - start
        if last.is_ready:
            return True, waited, last
        if waited + interval_s > deadline_s:
            return False, waited, last
        time.sleep(interval_s)
