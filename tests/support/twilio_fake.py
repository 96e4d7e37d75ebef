"""A fake of Twilio's Messages API on a free 127.0.0.1 port, strict the way
Twilio is about what it accepts:

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json
    HTTP Basic auth: the account SID and its auth token
    form fields: To (E.164), From or MessagingServiceSid (one of them), Body

It answers with Twilio-shaped JSON: 201 with a message sid and status
"queued", or Twilio's error JSON ({"code", "message", "more_info", "status"}).

    with TwilioFake() as fake:                  # or the `twilio_fake` fixture
        fake.api_root                           # "http://127.0.0.1:PORT"
        fake.fail_next(500)                     # scripted answers, used up in order
        fake.fail_next(429)
        fake.fail_next(400, code=21211, message="The 'To' number is not valid.")
        fake.requests                           # every request seen (method, path, auth, form)
        fake.messages                           # the ones accepted
"""

import base64
import http.server
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from email.utils import formatdate

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class SeenRequest:
    method: str
    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, list[str]]
    status: int = 0


@dataclass
class TwilioFake:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[SeenRequest] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    _script: list[tuple[int, dict]] = field(default_factory=list)

    def fail_next(self, status: int, code: int | None = None, message: str | None = None) -> None:
        self._script.append((status, _error(status, code, message or f"scripted failure {status}")))

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                fake._handle(self, "POST")

            def do_GET(self):
                fake._handle(self, "GET")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the API -----------------------------------------------------------

    def _handle(self, handler, method):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        ctype = handler.headers.get("Content-Type", "")
        form = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        seen = SeenRequest(method, handler.path, _basic_auth(handler.headers.get("Authorization")), ctype, form)
        self.requests.append(seen)
        status, body = self._answer(seen)
        seen.status = status
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        if status == 429:
            handler.send_header("Retry-After", "1")
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, seen: SeenRequest) -> tuple[int, dict]:
        match = _PATH.match(seen.path)
        if seen.auth is None or seen.auth != (self.account_sid, self.auth_token):
            return 401, _error(401, 20003, "Authenticate")
        if not match or method_not_post(seen):
            return 404, _error(404, 20404, f"The requested resource {seen.path} was not found")
        if match.group(1) != self.account_sid:
            return 403, _error(403, 20003, "Authenticate")
        if not seen.content_type.startswith("application/x-www-form-urlencoded"):
            return 400, _error(400, 21000, "Invalid content type")
        one = {k: v[0] for k, v in seen.form.items() if len(v) == 1}
        if any(len(v) != 1 for v in seen.form.values()):
            return 400, _error(400, 21000, "A parameter was given more than once")
        to, sender, service, body = one.get("To"), one.get("From"), one.get("MessagingServiceSid"), one.get("Body")
        if not to:
            return 400, _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return 400, _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not service:
            return 400, _error(400, 21603, "A 'From' phone number is required.")
        if sender and service:
            return 400, _error(400, 21000, "Provide either From or MessagingServiceSid, not both")
        if service and not re.match(r"^MG[0-9a-f]{32}$", service):
            return 400, _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not body:
            return 400, _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return 400, _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if self._script:
            return self._script.pop(0)
        return 201, self._accept(to, sender, service, body)

    def _accept(self, to, sender, service, body) -> dict:
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=False)
        message = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender, "messaging_service_sid": service,
            "num_media": "0", "num_segments": str(1 + len(body) // 160), "price": None, "price_unit": "USD",
            "sid": sid, "status": "queued", "subresource_uris": {}, "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }  # fmt: skip
        self.messages.append(message)
        return message


def method_not_post(seen: SeenRequest) -> bool:
    return seen.method != "POST"


def _error(status: int, code: int | None, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
