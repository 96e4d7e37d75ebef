"""A per-number limit on SMS, in Django's cache (fixed windows). With several
processes, the cache must be shared (Redis), as it is in production."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from .errors import SmsRateLimited


def check_and_count(number: str, limit: int | None = None, window: int | None = None) -> None:
    """Count one SMS to number; raise SmsRateLimited if that is one too many."""
    limit = int(limit if limit is not None else getattr(settings, "LOCKPOST_SMS_RATE_LIMIT", 10))
    window = int(window if window is not None else getattr(settings, "LOCKPOST_SMS_RATE_WINDOW", 3600))
    if limit <= 0:
        return
    bucket = int(time.time() // window)
    # hashed: cache keys (and cache dumps) need not hold phone numbers
    key = "lockpost:sms:" + hashlib.sha256(f"{number}|{bucket}".encode()).hexdigest()[:32]
    cache.add(key, 0, timeout=window + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window + 60)
        count = 1
    if count > limit:
        raise SmsRateLimited(f"more than {limit} SMS to {number} within {window} s; not sent")
