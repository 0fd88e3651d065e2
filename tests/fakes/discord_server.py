"""A local HTTP server that behaves like Discord, for tests (DESIGN.md "Real parts").

It listens on 127.0.0.1 (a free port), speaks real HTTP, and answers the two
routes ctoops uses like Discord does:

- POST /api/v10/channels/{channel_id}/messages with `Authorization: Bot <token>`
- POST /api/webhooks/{id}/{token}[?wait=true]

It checks what Discord checks (the credential; content and embed limits, with a
400 like Discord's "Invalid Form Body"), so a test fails when ctoops would lose a
message to a 400. Tests script the next answers (`script(...)`): 429 with
`retry_after` in the body and the rate-limit headers, 5xx, a slow answer past the
client's timeout, 401/403/404; after the script it answers 200 (204 for a
webhook without ?wait=true). Every request is recorded.

    with FakeDiscord() as fake:
        fake.script(Reply.rate_limited(0.2), Reply.server_error())
        ... point notify.discord.webhook_url at fake.webhook_url ...
        assert [m["content"] for m in fake.messages] == [...]
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LIMITS = {"content": 2000, "title": 256, "description": 4096, "fields": 25, "field_name": 256,
          "field_value": 1024, "footer": 2048, "author": 256, "total": 6000, "embeds": 10}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def limit_problems(payload: Any) -> list[str]:
    """What Discord would refuse in a message body (empty: it would accept it).
    Written apart from ctoops's own truncation code on purpose."""
    if not isinstance(payload, dict):
        return ["body is not a JSON object"]
    problems = []
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        problems.append("empty message")
    if _units(content) > LIMITS["content"]:
        problems.append(f"content longer than {LIMITS['content']}")
    if len(embeds) > LIMITS["embeds"]:
        problems.append("too many embeds")
    total = 0
    for e in embeds:
        title, desc = e.get("title", ""), e.get("description", "")
        footer = (e.get("footer") or {}).get("text", "")
        author = (e.get("author") or {}).get("name", "")
        fields = e.get("fields") or []
        for what, text in (("title", title), ("description", desc), ("footer", footer),
                           ("author", author)):
            if _units(text) > LIMITS[what]:
                problems.append(f"embed {what} longer than {LIMITS[what]}")
        if len(fields) > LIMITS["fields"]:
            problems.append(f"more than {LIMITS['fields']} fields")
        for f in fields:
            name, value = f.get("name", ""), f.get("value", "")
            if not str(name).strip() or not str(value).strip():
                problems.append("empty field name or value")
            if _units(name) > LIMITS["field_name"] or _units(value) > LIMITS["field_value"]:
                problems.append("field name or value too long")
            total += _units(name) + _units(value)
        total += _units(title) + _units(desc) + _units(footer) + _units(author)
    if total > LIMITS["total"]:
        problems.append(f"embeds total {total} > {LIMITS['total']}")
    return problems


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (a slow Discord)

    @staticmethod
    def ok() -> Reply:
        return Reply(200)

    @staticmethod
    def no_content() -> Reply:
        return Reply(204)

    @staticmethod
    def rate_limited(retry_after_s: float, *, is_global: bool = False, unit: str = "s",
                     headers: bool = True) -> Reply:
        """A 429. `unit="ms"` puts milliseconds in the body (as older APIs did);
        `headers` adds Retry-After (whole seconds, rounded up) and X-RateLimit-*."""
        value: float = retry_after_s * 1000 if unit == "ms" else retry_after_s
        if unit == "ms":
            value = round(value)
        body = {"message": "You are being rate limited.", "retry_after": value,
                "global": is_global}
        hdrs: dict[str, str] = {}
        if headers:
            hdrs = {"Retry-After": str(max(1, int(-(-retry_after_s // 1)))),
                    "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": f"{retry_after_s:.3f}",
                    "X-RateLimit-Bucket": "fakebucket"}
            if is_global:
                hdrs["X-RateLimit-Global"] = "true"
                hdrs["X-RateLimit-Scope"] = "global"
        return Reply(429, body, hdrs)

    @staticmethod
    def server_error(status: int = 500) -> Reply:
        return Reply(status, {"message": "Internal Server Error", "code": 0})

    @staticmethod
    def slow(delay_s: float) -> Reply:
        """Accept the message but answer only after `delay_s` (like Discord, the
        message may be posted although the client stopped waiting)."""
        return Reply(200, delay_s=delay_s)

    @staticmethod
    def unauthorized() -> Reply:
        return Reply(401, {"message": "401: Unauthorized", "code": 0})

    @staticmethod
    def forbidden() -> Reply:
        return Reply(403, {"message": "Missing Access", "code": 50001})


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    status: int  # what the fake answered
    at: float  # time.monotonic() when it arrived


class FakeDiscord:
    """The server. Use as a context manager or call close()."""

    def __init__(self, webhook_id: str = "112233445566778899",
                 webhook_token: str = "fakeWebhookToken_0123456789abcdefSECRET",
                 channel_id: str = "998877665544332211",
                 bot_token: str = "fakeBotToken.0123456789.abcdefSECRET") -> None:
        self.webhook_id, self.webhook_token = webhook_id, webhook_token
        self.channel_id, self.bot_token = channel_id, bot_token
        self.requests: list[Recorded] = []
        self.messages: list[dict[str, Any]] = []  # accepted bodies, in order
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    # --- addresses ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/api/webhooks/{self.webhook_id}/{self.webhook_token}"

    # --- scripting --------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order (then 200s again)."""
        with self._lock:
            self._script.extend(replies)

    def posts(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeDiscord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the handler ------------------------------------------------------------
    def _next(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _answer(self, method: str, path: str, headers: dict[str, str], payload: Any
                ) -> tuple[Reply, bool]:
        """(the reply, whether the message counts as accepted)."""
        parts = [p for p in path.split("/") if p]
        webhook = len(parts) == 4 and parts[:2] == ["api", "webhooks"]
        bot = len(parts) == 5 and parts[:3] == ["api", "v10", "channels"] and parts[4] == "messages"
        if method != "POST" or not (webhook or bot):
            return Reply(404, {"message": "404: Not Found", "code": 0}), False
        scripted = self._next()
        if scripted is not None and not 200 <= scripted.status < 300:
            return scripted, False
        if webhook and (parts[2] != self.webhook_id or parts[3] != self.webhook_token):
            return Reply(401, {"message": "Invalid Webhook Token", "code": 50027}), False
        if bot and (parts[3] != self.channel_id
                    or headers.get("authorization") != f"Bot {self.bot_token}"):
            return Reply(401, {"message": "401: Unauthorized", "code": 0}), False
        problems = limit_problems(payload)
        if problems:
            return Reply(400, {"message": "Invalid Form Body", "code": 50035,
                               "errors": problems}), False
        ok = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
              "X-RateLimit-Reset-After": "1.000", "X-RateLimit-Bucket": "fakebucket"}
        delay = scripted.delay_s if scripted else 0.0
        headers_out = {**ok, **(scripted.headers if scripted else {})}
        if scripted is not None and scripted.status == 204:
            return Reply(204, None, headers_out, delay), True
        return Reply(200, {"id": str(int(time.time() * 1000)), "channel_id": self.channel_id,
                           "content": payload.get("content", "")}, headers_out, delay), True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test reads fake.requests instead

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = None
                url = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply, accepted = fake._answer(self.command, url.path, headers, payload)
                query = parse_qs(url.query)
                status = reply.status
                if accepted and "/webhooks/" in url.path and query.get("wait") != ["true"]:
                    reply, status = Reply(204, None, reply.headers, reply.delay_s), 204
                with fake._lock:
                    fake.requests.append(Recorded(self.command, url.path, query, headers, raw,
                                                  payload, status, arrived))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if accepted:
                    with fake._lock:
                        fake.messages.append(payload)
                body = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if body:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (a timeout test): nothing to answer

        return Handler
