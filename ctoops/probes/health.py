"""The gateway's unauthenticated HTTP probes: GET /healthz and /readyz.

These run every minute, so no `requests` (~80 ms of imports). Plain http (the
gateway's loopback port) is one HTTP/1.0 GET over a socket with ONE deadline for
the whole exchange: a hung server that accepts and then trickles bytes cannot
stretch a probe past its timeout (urllib's timeout is per blocking read), and the
path loads no urllib, email or ssl (OpenSSL alone is ~3.5 MB resident). https goes
through urllib. Short timeouts: a zombie answers neither in time, and that is a
result (`answered=False`), not an exception.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

MAX_BODY = 65536


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
    parts = urlsplit(url)
    try:
        if parts.scheme == "http":
            status, raw = _fetch_http(parts, start + timeout_s)
        else:
            status, raw = _fetch_urllib(url, timeout_s)
    except (OSError, ValueError) as exc:  # timeouts and refusals are OSErrors
        reason = getattr(exc, "reason", None) or exc
        return HttpProbe(url, False, None, time.monotonic() - start,
                         error=str(reason) or type(exc).__name__)
    elapsed = time.monotonic() - start
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return HttpProbe(url, True, status, elapsed, error="body is not JSON")
    return HttpProbe(url, True, status, elapsed, body if isinstance(body, dict) else {})


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _fetch_http(parts: SplitResult, deadline: float) -> tuple[int, bytes]:
    """(status, body) of one GET; ValueError when the reply is not HTTP."""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    request = (f"GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n"
               "User-Agent: ctoops\r\nConnection: close\r\n\r\n").encode("ascii")
    buf, oversized = bytearray(), False
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                  timeout=_left(deadline)) as sock:
        sock.sendall(request)
        while not _complete(buf):
            sock.settimeout(_left(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > MAX_BODY + 16384:  # more than a health answer: judge what we have
                oversized = True
                break
    return _parse_response(bytes(buf), oversized)


def _split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError(f"not an HTTP reply: {raw[:60]!r}")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"not an HTTP reply: {status_line[:60]!r}")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(code), headers, body


def _complete(buf: bytearray) -> bool:
    """True once a reply with a Content-Length has all of its body."""
    try:
        _, headers, body = _split(bytes(buf))
    except ValueError:
        return False
    length = headers.get("content-length", "")
    return length.isdigit() and len(body) >= int(length)


def _parse_response(raw: bytes, oversized: bool = False) -> tuple[int, bytes]:
    status, headers, body = _split(raw)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    length = headers.get("content-length", "")
    if length.isdigit() and not oversized:
        if len(body) < int(length):
            raise ValueError(f"reply cut short: {len(body)} of {length} bytes")
        body = body[:int(length)]
    return status, body[:MAX_BODY]


def _dechunk(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16) if sep else 0
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2:]
    return bytes(out)


def _fetch_urllib(url: str, timeout_s: float) -> tuple[int, bytes]:
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    try:
        with opener.open(request, timeout=timeout_s) as resp:
            return resp.status, resp.read(MAX_BODY)
    except urllib.error.HTTPError as exc:  # a 503 from /readyz still carries a body
        return exc.code, exc.read(MAX_BODY)
    except http.client.HTTPException as exc:  # a garbled reply is no answer
        raise ValueError(str(exc) or type(exc).__name__) from exc


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
