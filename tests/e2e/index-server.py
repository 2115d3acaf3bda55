#!/usr/bin/env python3
"""index-server.py DIR - a static package index on 127.0.0.1 that negotiates like PEP 691.

A directory URL answers DIR/.../index.json as application/vnd.pypi.simple.v1+json when the
client's Accept header ranks that type above HTML and the file exists; otherwise index.html as
text/html (the PEP 503 form). Any other path is a static file. Prints "serving on port N" once
it listens (kernel-chosen port). Used by tests/e2e/bump.sh.
"""
import http.server
import os
import sys

JSON = "application/vnd.pypi.simple.v1+json"


def prefers_json(accept):
    """True when Accept gives the PEP 691 JSON type a higher q than every HTML type."""
    best_json, best_html = -1.0, -1.0
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if fields[0] == JSON:
            best_json = max(best_json, q)
        elif fields[0] in ("text/html", "application/vnd.pypi.simple.v1+html", "*/*"):
            best_html = max(best_html, q)
    return best_json > 0 and best_json >= best_html


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) and self.path.endswith("/"):
            as_json = os.path.join(path, "index.json")
            if prefers_json(self.headers.get("Accept")) and os.path.exists(as_json):
                with open(as_json, "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Vary", "Accept")
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)
                return None
        return super().send_head()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.headers.get("Accept", "-"), fmt % args))


def main():
    os.chdir(sys.argv[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("serving on port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
