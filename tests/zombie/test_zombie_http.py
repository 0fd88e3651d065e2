"""The HTTP probe zombie-report (and safe-restart's wait) relies on: one deadline
for the whole exchange, a garbled or cut reply is "no answer", never a crash.
Real sockets on 127.0.0.1, each server scripted byte by byte."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ctoops.probes.health import get_json, probe_gateway
from tests.zombie.zombie_support import FakeGateway


@contextmanager
def scripted(reply: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-connection server on 127.0.0.1 whose answer is `reply(conn)`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(4096)
            try:
                reply(conn)
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        thread.join(timeout=10)


def test_r22_fake_gateway_answers_are_read(fake_gateway: FakeGateway) -> None:
    health = probe_gateway(fake_gateway.url, 2.0)
    assert health.is_live and health.is_ready and not health.event_loop_degraded
    fake_gateway.set_mode(ready=False)
    ready = get_json(fake_gateway.url + "/readyz", 2.0)
    assert (ready.answered, ready.status, ready.body["ready"]) == (True, 503, False)


def test_r22_trickling_server_cannot_stretch_the_probe() -> None:
    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(40):
            conn.sendall(b"x")
            time.sleep(0.1)

    with scripted(trickle) as url:
        start = time.monotonic()
        probe = get_json(url + "/readyz", 0.5)
        took = time.monotonic() - start
    assert not probe.answered and probe.error == "timed out"
    assert took < 1.0  # one deadline, not 0.5 s per read


def test_r22_chunked_reply_is_decoded() -> None:
    body = json.dumps({"ready": True, "failing": []}).encode()

    def chunked(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + f"{len(body[:10]):x}\r\n".encode() + body[:10] + b"\r\n"
                     + f"{len(body[10:]):x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n")

    with scripted(chunked) as url:
        probe = get_json(url + "/readyz", 2.0)
    assert probe.answered and probe.body == {"ready": True, "failing": []}


def test_r22_garbled_or_cut_reply_is_no_answer() -> None:
    with scripted(lambda c: c.sendall(b"garbage\r\n\r\n")) as url:
        probe = get_json(url + "/readyz", 2.0)
    assert not probe.answered and "garbage" in probe.error
    with scripted(lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"re")) as url:
        probe = get_json(url + "/readyz", 2.0)
    assert not probe.answered and "cut short" in probe.error
    with scripted(lambda c: None) as url:  # closes without a byte
        probe = get_json(url + "/readyz", 2.0)
    assert not probe.answered and "not an HTTP reply" in probe.error


def test_r22_refused_connection_is_no_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    probe = get_json(f"http://127.0.0.1:{port}/healthz", 1.0)
    assert not probe.answered and "refused" in probe.error.lower()


def test_r22_non_json_body_is_an_answer_that_says_so() -> None:
    with scripted(lambda c: c.sendall(b"HTTP/1.0 200 OK\r\n\r\n<html>hi</html>")) as url:
        probe = get_json(url + "/healthz", 2.0)
    assert probe.answered and probe.status == 200 and probe.error == "body is not JSON"
