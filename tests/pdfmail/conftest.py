import http.server
import threading

import pytest


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    do_POST = do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def recording_server():
    """An HTTP server on a free loopback port that records every request.
    Yields it; server.url is its base URL, server.requests what came in."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    # Count raw connections too: a fetch that never gets as far as HTTP.
    server.connections = 0
    original = server.get_request

    def get_request():
        server.connections += 1
        return original()

    server.get_request = get_request
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def twilio_fake():
    from tests.support.twilio_fake import TwilioFake

    with TwilioFake() as fake:
        yield fake
