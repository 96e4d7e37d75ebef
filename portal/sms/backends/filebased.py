import json
import os
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    """Writes each SMS as one JSON file into a folder (LOCKPOST_SMS_FILE_PATH):
    {"id", "to", "body"}. For tests and `make run`."""

    def __init__(self, file_path=None, **kwargs):
        super().__init__(**kwargs)
        path = file_path or getattr(settings, "LOCKPOST_SMS_FILE_PATH", None)
        if not path:
            raise ImproperlyConfigured("the file SMS backend needs LOCKPOST_SMS_FILE_PATH")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def send(self, to: str, body: str) -> str:
        sid = f"file-{uuid.uuid4().hex}"
        final = self.path / f"{sid}.json"
        temp = self.path / f".{sid}.tmp"
        # Write then rename, so a reader never sees half a message.
        temp.write_text(json.dumps({"id": sid, "to": to, "body": body}, ensure_ascii=False), encoding="utf-8")
        os.replace(temp, final)
        return sid
