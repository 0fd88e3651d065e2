"""A stand-in for the OpenClaw gateway, run as a real child process by the tests.

Serves GET /healthz and /readyz on 127.0.0.1 like the gateway (OPENCLAW.md),
says ready only after `ready_after` seconds, holds `bloat_mb` MiB of touched
memory (what a long-running gateway accumulates), and names itself `name` in the
kernel (prctl PR_SET_NAME) so ctoops finds it by `gateway.process_name`.
Usage: fake_gateway.py PORT NAME BLOAT_MB READY_AFTER_S
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PR_SET_NAME = 15


def main() -> None:
    port, name, bloat_mb, ready_after = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
        float(sys.argv[4])
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    bloat = bytearray(b"x") * (bloat_mb << 20)  # every page touched: real RSS
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            uptime_ms = int((time.monotonic() - started) * 1000)
            if self.path == "/healthz":
                code, body = 200, {"ok": True, "status": "live"}
            elif self.path == "/readyz":
                ready = time.monotonic() - started >= ready_after
                code = 200 if ready else 503
                body = {"ready": ready, "failing": [] if ready else ["startup"],
                        "uptimeMs": uptime_ms, "eventLoop": {"degraded": False},
                        "bloat": len(bloat)}
            else:
                code, body = 404, {"error": "not found"}
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
