#!/usr/bin/env python3
"""The example web app `make dev` serves: clients/typescript/example and the built client, with a
config.js that points the app at the local API, and the two pages emailed links open
(`/reset-password`, `/verify-email`) at the paths APP_URL links name.

Usage: scripts/web.py PORT API_URL  (standard library only; 127.0.0.1 only)
"""
import http.server
import json
import mimetypes
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "clients" / "typescript"
EXAMPLE, DIST = ROOT / "example", ROOT / "dist"
PAGES = {"/": "index.html", "/reset-password": "reset-password.html", "/verify-email": "verify-email.html"}


class App(http.server.BaseHTTPRequestHandler):
    api_url = ""

    def do_GET(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/config.js":
            return self.answer(200, f"export const apiUrl = {json.dumps(self.api_url)};\n".encode(), "text/javascript")
        if path in PAGES:
            return self.file(EXAMPLE / PAGES[path])
        if path.startswith("/dist/"):
            return self.file(DIST / path[len("/dist/"):], within=DIST)
        return self.file(EXAMPLE / path.lstrip("/"), within=EXAMPLE)

    def file(self, target, within=EXAMPLE):
        target = target.resolve()
        # Nothing outside the app's own folders, whatever `..` or links a path holds.
        if within not in target.parents or not target.is_file() or target.name == "config.js":
            return self.answer(404, b"not found\n", "text/plain")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            kind = "text/javascript"
        return self.answer(200, target.read_bytes(), kind)

    def answer(self, status, body, kind):
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8" if kind.startswith("text/") else kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port, App.api_url = int(sys.argv[1]), sys.argv[2]
    http.server.ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
