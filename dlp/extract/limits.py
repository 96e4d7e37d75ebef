"""How far extraction may go. Hostile mail (ZIP bombs, deep nesting,
documents that take forever) must end quickly with an "unscannable" finding
rather than hang or exhaust the worker."""

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_depth: int = 8  # containers within containers: attached mail, archives, embedded files
    max_total_bytes: int = 100 * 2**20  # decoded and decompressed bytes over the whole message
    max_files: int = 1000  # parts, archive members and embedded files
    max_seconds: float = 20.0  # checked between parts, pages and members
    max_pdf_pages: int = 2000
    max_multipart_nesting: int = 50


def _size(count):
    return f"{count / 2**20:g} MB" if count >= 2**20 else f"{count} bytes"


class Unreadable(Exception):
    """This part cannot be scanned; the others still are."""


class LimitReached(Exception):
    """A limit for the whole message is spent: extraction stops here."""


class Budget:
    def __init__(self, limits):
        self.limits = limits
        self.bytes = 0
        self.files = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def check_time(self):
        if time.monotonic() > self.deadline:
            raise LimitReached(f"scanning took longer than {self.limits.max_seconds:g} seconds")

    def reserve(self, size):
        """Account for `size` bytes about to be decoded or decompressed,
        before doing it, so a bomb is refused by its declared size."""
        self.check_time()
        if self.bytes + size > self.limits.max_total_bytes:
            raise LimitReached(
                f"expanded content exceeds {_size(self.limits.max_total_bytes)} "
                f"(a part declares {size} bytes): possible decompression bomb"
            )
        self.bytes += size

    def count_file(self):
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitReached(f"more than {self.limits.max_files} parts and archive members")

    def check_depth(self, depth):
        if depth > self.limits.max_depth:
            raise Unreadable(f"nested more than {self.limits.max_depth} levels deep")
