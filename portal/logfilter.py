"""Links in Lockpost's mail carry bearer tokens in their path (/reply/,
/portal/activate/, /portal/pickup/). Django logs the path of every 4xx
response, and a web server may log each request: this filter, on the log
handlers, writes such a path with the token replaced by "…"."""

import logging
import re

TOKEN_PATH = re.compile(r"(/(?:reply|activate|pickup)/)[A-Za-z0-9_:.\-]{16,}")


def redact(text):
    return TOKEN_PATH.sub(r"\1…", text)


class RedactTokens(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
