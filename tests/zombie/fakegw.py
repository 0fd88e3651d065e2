"""A stand-in for the gateway's HTTP probes, run as a real child process.

`python fakegw.py MODE_FILE PORT_FILE`: binds 127.0.0.1 on a free port, writes the
port to PORT_FILE, and answers /healthz and /readyz the way OpenClaw 2026.9.6 does.
MODE_FILE (JSON, re-read on every request) switches it between healthy, unready
(`{"ready": false}`), degraded (`{"degraded": true}`) and a /readyz that hangs
(`{"readyz_hang": true}`). SIGSTOP turns it into a real zombie: the socket stays
open, nothing answers. Stdlib only: it runs under a bare interpreter.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODE_FILE, PORT_FILE = Path(sys.argv[1]), Path(sys.argv[2])


def mode() -> dict:
    try:
        return json.loads(MODE_FILE.read_text())
    except (OSError, ValueError):
        return {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        m = mode()
        if self.path in ("/healthz", "/health"):
            code, body = 200, {"ok": True, "status": "live"}
        elif self.path == "/readyz":
            if m.get("readyz_hang"):
                time.sleep(30)
            ready, degraded = bool(m.get("ready", True)), bool(m.get("degraded", False))
            code = 200 if ready else 503
            body = {"ready": ready, "failing": [] if ready else ["channels"], "uptimeMs": 1000,
                    "eventLoop": {"degraded": degraded, "delayP99Ms": 1475.3 if degraded else 20.1,
                                  "reasons": ["event_loop_delay"] if degraded else [],
                                  "utilization": 0.5}}
        else:
            code, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = PORT_FILE.with_suffix(".tmp")
tmp.write_text(str(server.server_address[1]))
tmp.replace(PORT_FILE)
server.serve_forever()
