"""Small web servers on loopback for tests: CRL distribution points, OCSP
responders. They serve until the `with` block ends."""

import contextlib
import http.server
import threading


@contextlib.contextmanager
def serving(handler):
    """Run a BaseHTTPRequestHandler subclass on a free 127.0.0.1 port; yields its base URL."""
    handler.log_message = lambda *args: None  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def file_server():
    """Serves whatever bytes a test puts at a path (404 otherwise) and records
    the paths asked for. Yields (base URL, files, requests)."""
    files, requests = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

    with serving(Handler) as url:
        yield url, files, requests
