"""The pipeline: an ordered list of small handlers (settings.LOCKPOST_PIPELINE)
that each do one job to a message in transit.

A handler is a callable taking a `Context`. It reads and changes the context
(recipients, groups, their content) and notes what it did in the trail. The
pipeline loads the context from the spool, runs the handlers, and turns the
groups into Delivery rows; gateway.worker decides when that happens."""

import hashlib
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from gateway.spool import read_headers

log = logging.getLogger(__name__)


class HoldMessage(Exception):
    """A handler raises this to stop the message here (quarantine, missing
    password): nothing is delivered and the message is marked held."""


@dataclass
class RecipientInfo:
    address: str
    position: int
    direction: str = ""
    bcc: bool = False
    settings: dict = field(default_factory=dict)  # key -> policy.resolver.Effective
    own_settings: dict = field(default_factory=dict)  # the recipient's own, when `settings` are the sender's
    # Set by the handlers that decide protection (S/MIME, PDF, DLP): what this
    # recipient's copy gets, e.g. "plain", "smime:...", "pdf:...". Recipients
    # with the same treatment share an output.
    treatment: str = ""
    # Set by a deciding handler when this recipient's copy is made for them
    # alone (a personal password, a reply link naming them): an output of its own.
    alone: bool = False
    # Set by a deciding handler that refuses this recipient (e.g. encryption
    # mandatory and no way to encrypt): the reply recorded for them, such as
    # "550 5.7.1 ...". Nothing is sent to them; the sender gets a DSN.
    refusal: str = ""

    @property
    def domain(self):
        return self.address.rpartition("@")[2].lower()


@dataclass
class Group:
    """Recipients that get the same output. `content` stays None until a
    handler produces bytes of its own; then the group no longer shares the
    message's bytes."""

    key: str
    treatment: str
    positions: list
    content: bytes | None = None


@dataclass
class TrailNote:
    stage: str
    text: str
    data: dict = field(default_factory=dict)


@dataclass
class Context:
    queue_id: str
    mail_from: str
    raw: bytes
    recipients: list
    client_address: str = ""
    client_helo: str = ""
    received_at: object = None
    groups: list = field(default_factory=list)
    trail: list = field(default_factory=list)
    # The listener profile the message came in by ("" for the main one): it
    # chooses the pipeline (settings.LOCKPOST_PROFILE_PIPELINES).
    profile: str = ""
    # What a deciding handler leaves for the handler that carries it out
    # (certificates, identities), keyed as the two agree (e.g. by treatment).
    decided: dict = field(default_factory=dict)
    # Header fields that go on top of every output (the trace header), kept
    # apart so an output that is the message as received needs no copy.
    prefix: bytes = b""
    # The bytes as loaded from the spool; `raw` is still them while no
    # handler replaced it.
    original: bytes | None = None
    _headers: object = None

    @property
    def headers(self):
        """The top-level headers, parsed once, for reading only (never
        re-serialised: bytes are sacred)."""
        if self._headers is None:
            # The header block alone: the parser would take in (and split
            # into lines) the whole body too, ten times a large message's size.
            self._headers = read_headers(self.raw)
        return self._headers

    def note(self, stage, text, **data):
        self.trail.append(TrailNote(stage, text, data))

    def recipient(self, position):
        return next(r for r in self.recipients if r.position == position)

    def content_for(self, group):
        """The whole output of a group, as it will be sent."""
        return self.prefix + self.body_for(group)

    def body_for(self, group):
        return self.raw if group.content is None else group.content

    def shares_spooled_bytes(self, group):
        """True when the group's output is the spooled message untouched
        (beneath the prefix): it can be sent from the spool, not stored again."""
        return group.content is None and self.original is not None and self.raw is self.original


def group_key(treatment, positions):
    """A stable name for a group: the same recipients with the same treatment
    give the same key, so a crashed and repeated run finds its earlier rows."""
    text = treatment + ":" + ",".join(str(p) for p in sorted(positions))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def handlers(profile=""):
    """The handlers of the pipeline for a listener profile ("" or unknown: the main one)."""
    paths = getattr(settings, "LOCKPOST_PROFILE_PIPELINES", {}).get(profile) if profile else None
    return [import_string(path) for path in paths or settings.LOCKPOST_PIPELINE]


class HandlerError(Exception):
    """A handler failed. Names the handler so the trail can say which; the
    original exception is the cause."""

    def __init__(self, handler, error):
        self.handler = handler_name(handler)
        self.error = error
        super().__init__(f"{self.handler} failed: {type(error).__name__}: {error}")


def handler_name(handler):
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def prepare(contexts):
    """Before a batch runs: each handler that has a `prepare(contexts)` reads
    at once what it would otherwise read message by message. Only an
    optimisation: a handler that finds nothing prepared reads for itself, so
    a failing prepare is logged and forgotten."""
    by_profile = {}
    for context in contexts:
        by_profile.setdefault(context.profile, []).append(context)
    for profile, batch in by_profile.items():
        for handler in handlers(profile):
            prepare_batch = getattr(handler, "prepare", None)
            if prepare_batch is None:
                continue
            try:
                prepare_batch(batch)
            except Exception:
                log.warning(
                    "%s: preparing a batch failed; each message reads for itself", handler_name(handler), exc_info=True
                )


def run(context, steps=None):
    """Run every handler over the context, in order. Returns the context.
    HoldMessage passes through; any other exception becomes a HandlerError."""
    for handler in steps if steps is not None else handlers(context.profile):
        try:
            handler(context)
        except HoldMessage:
            raise
        except Exception as error:
            raise HandlerError(handler, error) from error
    return context
