import sys
import threading
import uuid

from .base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Prints each SMS (development only: the body holds a password)."""

    def __init__(self, stream=None, **kwargs):
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, to: str, body: str) -> str:
        sid = f"console-{uuid.uuid4().hex}"
        with self._lock:
            self.stream.write(f"SMS {sid} to {to}\n{body}\n{'-' * 40}\n")
            self.stream.flush()
        return sid
