#!/usr/bin/env python3
"""A tiny webhook receiver for the smoke scripts: records every request, answers 200.

Each request is appended to --out as one JSON line: {"method", "path", "headers", "body"}, the
body as text. Once listening it writes its port to --port-file, so a script can start it on
port 0 (any free port) and wait for that file. Standard library only; runs until killed.

    python3 scripts/receiver.py --out requests.jsonl --port-file port [--host 127.0.0.1] [--port 0]
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for containers)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--out", type=Path, required=True, help="file that gets one JSON line per request")
    parser.add_argument("--port-file", type=Path, required=True, help="file that gets the port once listening")
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            record = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", errors="replace"),
            }
            with lock, args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            answer = b'{"received": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

        def log_message(self, format, *args) -> None:
            pass  # the --out file is the log

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    args.out.touch()
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(f"{server.server_address[1]}\n")
    tmp.replace(args.port_file)  # appears whole
    server.serve_forever()


if __name__ == "__main__":
    main()
