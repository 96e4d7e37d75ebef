"""A simple limiter for code entry (SMS and TOTP codes): so many wrong
codes per key within a window, then no more tries until it passes. Kept in
Django's cache, which is shared (Redis) when there are several processes."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _key(scope):
    bucket = int(time.time() // settings.LOCKPOST_CODE_WINDOW)
    return "lockpost:codes:" + hashlib.sha256(f"{scope}|{bucket}".encode()).hexdigest()[:32]


def blocked(scope):
    return cache.get(_key(scope), 0) >= settings.LOCKPOST_CODE_ATTEMPTS


def failed(scope):
    key = _key(scope)
    cache.add(key, 0, timeout=settings.LOCKPOST_CODE_WINDOW + 60)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=settings.LOCKPOST_CODE_WINDOW + 60)


def clear(scope):
    cache.delete(_key(scope))
