"""The DLP rules a sender's mail is checked against, kept in this process
under the policy epoch (rules and exemptions move it on when they change).
Here, not in dlp: dlp may read gateway.models only, and the pipeline is
what needs them fast."""

from dataclasses import replace

from dlp import services

from . import epoch as policy_epoch
from .cache import EpochCache

_rules = EpochCache(limit=5000)


def rules_for(address, epoch=None):
    """dlp.services.rules_for, under `epoch` (the pipeline's,
    gateway.policy.cache.epoch_for) or the current one."""
    address = address.strip().lower()
    epoch = policy_epoch.current() if epoch is None else epoch
    found = _rules.get(epoch, address, lambda: services.rules_for(address))
    # Rules and refusals are tuples of frozen values; the two dicts are copied
    # so that no caller can change what the next one gets.
    return replace(found, origin=dict(found.origin), exempted=dict(found.exempted))
